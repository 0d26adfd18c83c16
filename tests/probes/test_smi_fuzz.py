"""Arbitrary and mutated nvidia-smi text only ever yields a result or a ParseError - never a traceback.

Mutations start from the real captures in fixtures/smi: deleted, duplicated and swapped lines,
swapped cells, random character noise, truncation. A last property shows the symmetry check at work:
swapping two different cells of a complete `topo -m` row is caught, never turned into a wrong graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.probes.corpus import SMI, captures, read
from tpdoctor.model.errors import ParseError
from tpdoctor.probes.smi import (
    parse_nvlink_caps,
    parse_nvlink_errors,
    parse_nvlink_status,
    parse_query_gpu,
    parse_topo_m,
    parse_topo_p2p_all,
)

PARSERS: list[Callable[..., Any]] = [
    parse_topo_m,
    parse_topo_p2p_all,
    parse_nvlink_status,
    parse_nvlink_errors,
    parse_nvlink_caps,
    parse_query_gpu,
]
TEXTS = [
    read(p)
    for kind in ("topo-m", "topo-p2p", "nvlink-status", "nvlink-errors", "nvlink-caps")
    for p in captures(SMI / kind)
]
QUERY_CSV = (
    "index, name, uuid, pci.bus_id, memory.total [MiB], pcie.link.gen.current, pcie.link.gen.max, "
    "pcie.link.width.current, pcie.link.width.max\n"
    "0, NVIDIA H100 NVL, GPU-5a10e6e5-95f7-2785-ed63-6f6147f304f7, 00000000:18:00.0, 95830 MiB, "
    "5, 5, 16, 16\n"
    "1, NVIDIA H100 NVL, [N/A], 00000000:2A:00.0, 95830 MiB, 1, 5, 16, 16\n"
)
TEXTS.append(QUERY_CSV)
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_result_or_parse_error(text: str) -> None:
    for parse in PARSERS:
        try:
            parse(text, source="<fuzz>")
        except ParseError as e:
            assert e.source == "<fuzz>" and e.reason
            assert e.line is None or e.line >= 1


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(TEXTS))
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(["delete", "duplicate", "swap_lines", "swap_cells", "noise", "truncate", "replace_token"])
        )
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap_lines":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "swap_cells":
            cells = re.split(r"(\s+)", lines[i])
            words = [k for k, c in enumerate(cells) if c and not c.isspace()]
            if len(words) >= 2:
                a, b = draw(st.sampled_from(words)), draw(st.sampled_from(words))
                cells[a], cells[b] = cells[b], cells[a]
                lines[i] = "".join(cells)
        elif op == "noise":
            pos = draw(st.integers(0, len(lines[i])))
            junk = draw(st.text(min_size=1, max_size=8))
            lines[i] = lines[i][:pos] + junk + lines[i][pos:]
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            toks = lines[i].split()
            if toks:
                lines[i] = lines[i].replace(draw(st.sampled_from(toks)), draw(st.text(max_size=6)), 1)
    return "\n".join(lines)


@FAST
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    only_result_or_parse_error(text)


@FAST
@given(st.text(alphabet=st.sampled_from(list("GPUNICX0123456789 \t\n:-,.<>/NVPHBXSYODEL[]A"))))
def test_smi_flavoured_text(text: str) -> None:
    only_result_or_parse_error(text)


@FAST
@given(mutated())
def test_mutated_corpus(text: str) -> None:
    only_result_or_parse_error(text)


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_decoded(data: bytes) -> None:
    only_result_or_parse_error(data.decode("utf-8", errors="replace"))


COMPLETE = [read(p) for p in captures(SMI / "topo-m") if not re.search(r"headerless|truncated|fused", p.name)]


@FAST
@given(st.data())
def test_swapped_cells_never_give_a_wrong_graph(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(COMPLETE))
    good = parse_topo_m(text)
    lines = text.split("\n")
    rows = [k for k, ln in enumerate(lines) if re.match(r"^\s*GPU\d+\s+(X|NV\d+|PIX|PXB|PHB|NODE|SYS|SOC)\b", ln)]
    k = data.draw(st.sampled_from(rows))
    cells = re.split(r"(\s+)", lines[k].strip())
    gpu_cells = [i for i, c in enumerate(cells[: 2 * (len(good.gpus) + 1)]) if i and not c.isspace() and c != "X"]
    if len(gpu_cells) < 2:
        return
    a, b = data.draw(st.sampled_from(gpu_cells)), data.draw(st.sampled_from(gpu_cells))
    cells[a], cells[b] = cells[b], cells[a]
    lines[k] = "".join(cells)
    try:
        got = parse_topo_m("\n".join(lines))
    except ParseError:
        return
    assert got.cells == good.cells  # only a swap of equal cells may parse


@pytest.mark.parametrize("path", captures(SMI / "topo-m"), ids=lambda p: p.stem)
def test_deleting_or_duplicating_any_line_never_changes_a_cell(path: Path) -> None:
    """Exhaustive over every line of every topo -m capture: a parse that succeeds is a subset of the truth."""
    text = read(path)
    good = parse_topo_m(text).cells
    lines = text.split("\n")
    for i in range(len(lines)):
        for mutated_lines in (lines[:i] + lines[i + 1 :], lines[: i + 1] + lines[i:]):
            try:
                got = parse_topo_m("\n".join(mutated_lines)).cells
            except ParseError:
                continue
            assert all(good.get(k) == v for k, v in got.items()), (i, lines[i])
