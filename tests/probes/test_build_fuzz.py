"""Whatever a collect directory holds, replay yields a Topology or a ParseError naming a file: no traceback."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE
from tpdoctor.model.errors import ParseError
from tpdoctor.probes.replay import load

FILES = sorted(p.name for p in EXAMPLE.iterdir() if p.suffix in (".txt", ".csv"))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FILES))
    data = bytearray((EXAMPLE / name).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup-line"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 200))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=20)) or b"\t"
        else:
            lines = bytes(data).split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines.insert(k, lines[k])
            data = bytearray(b"\n".join(lines))
    return name, bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_collect_dir_only_ever_parse_errors(change: tuple[str, bytes]) -> None:
    name, data = change
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "node"
        shutil.copytree(EXAMPLE, d)
        (d / name).write_bytes(data)
        try:
            topo = load(d)
        except ParseError as exc:
            assert str(d) in exc.message
            assert "\n" not in exc.message
        else:
            assert topo.gpus
