"""Random bytes, random YAML (with anchors and aliases), random JSON and randomly broken reports, fed to every
command that takes a path, in process through `tpdoctor.cli.main`: each run exits 0-3, never crashes (an
exception reaching the boundary in cli.py is a bug even though it exits 3) and ends within its deadline.
The number of examples is bounded so the whole file takes about half a minute."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.cases import EXAMPLE, JOB, _example_report
from tpdoctor.cli import main

DEADLINE_SECONDS = 10.0
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# every command line that reads a path given by the user; {path} is the random file
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("scan", "--from", "{path}"),
    ("health", "--from", "{path}"),
    ("health", "--from", str(EXAMPLE), "--baseline", "{path}"),
    ("check-deployment", "{path}", "--topology", str(EXAMPLE)),
    ("check-deployment", "{path}", "--topology", str(EXAMPLE), "--format", "sarif"),
    ("check-deployment", str(JOB), "--topology", "{path}"),
    ("check-deployment", str(JOB), "--topology", str(EXAMPLE), "--bench", "{path}"),
    ("fleet", "{path}"),
    ("fleet", "--json", "{path}"),
    ("predict", "qwen35-27b", "--tp", "2", "--topology", "{path}"),
    ("rules", "--rules", "{dir}"),
    ("health", "--from", str(EXAMPLE), "--rules", "{dir}"),
)


def run(command: tuple[str, ...], content: bytes, name: str) -> None:
    """Write `content` where the command reads it, run the command, check the outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        folder.mkdir()
        rules_cmd = "{dir}" in command
        path = folder / "SITE900.yaml" if rules_cmd else Path(tmp) / name
        path.write_bytes(content)
        argv = [a.format(path=path, dir=folder) for a in command]
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        elapsed = time.monotonic() - started
    shown = f"tpdoctor {' '.join(argv)}\n{content[:300]!r}\nstderr: {err.getvalue()[-1500:]}"
    assert code in (0, 1, 2, 3), shown
    assert "internal error" not in err.getvalue() and "Traceback" not in err.getvalue(), shown
    assert elapsed < DEADLINE_SECONDS, f"took {elapsed:.1f} s\n{shown}"


commands = st.sampled_from(COMMANDS)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["GPU0", "GPU99", "NV12", "tp", "0,1", "vllm", "-5"]))
KEYS = st.sampled_from(["deployments", "name", "engine", "model", "tp", "gpus", "dtype", "command", "args",
                        "kind", "spec", "containers", "replicas", "services", "id", "scope", "each", "when",
                        "message", "docs", "schema", "links", "unknown", "index"]) | st.text(max_size=6)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(KEYS, inner, max_size=4), max_leaves=25)


@st.composite
def anchored_yaml(draw: st.DrawFn) -> str:
    """YAML text whose values are defined once under an anchor and used again through aliases, a few
    levels deep (a small "billion laughs"), around manifest- and rule-like keys."""
    lines = []
    for i in range(draw(st.integers(1, 5))):
        if i == 0 or draw(st.booleans()):
            value = json.dumps(draw(json_values))
        else:
            refs = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=9))
            value = "[" + ", ".join(f"*a{r}" for r in refs) + "]"
        lines.append(f"k{i}: &a{i} {value}")
    top = draw(st.dictionaries(KEYS, st.integers(0, len(lines) - 1).map(lambda r: f"*a{r}") | scalars.map(
        lambda v: json.dumps(v)), max_size=5))
    lines += [f"{json.dumps(k)}: {v}" for k, v in top.items()]
    if draw(st.booleans()):
        lines = ["deployments:", *("  - " + ln if j == 0 else "    " + ln for j, ln in enumerate(lines))]
    return "\n".join(lines) + "\n"


@st.composite
def broken_report(draw: st.DrawFn) -> str:
    """The example report with one value somewhere replaced by a random one."""
    data: Any = json.loads(_example_report())
    obj = data
    for _ in range(draw(st.integers(1, 6))):
        if isinstance(obj, dict) and obj:
            key = draw(st.sampled_from(sorted(obj)))
            if not isinstance(obj[key], (dict, list)) or not obj[key] or draw(st.booleans()):
                obj[key] = draw(json_values)
                break
            obj = obj[key]
        elif isinstance(obj, list) and obj:
            i = draw(st.integers(0, len(obj) - 1))
            if not isinstance(obj[i], (dict, list)) or not obj[i] or draw(st.booleans()):
                obj[i] = draw(json_values)
                break
            obj = obj[i]
        else:
            break
    return json.dumps(data, allow_nan=True)


@SETTINGS
@given(command=commands, content=st.binary(max_size=3000))
def test_random_bytes(command: tuple[str, ...], content: bytes) -> None:
    run(command, content, "input.json")


@SETTINGS
@given(command=commands, text=anchored_yaml())
def test_random_yaml_with_anchors(command: tuple[str, ...], text: str) -> None:
    yaml.compose(text, Loader=yaml.SafeLoader)  # the generator makes valid YAML; the commands judge it
    run(command, text.encode(), "input.yaml")


@SETTINGS
@given(command=commands, value=json_values)
def test_random_json(command: tuple[str, ...], value: Any) -> None:
    run(command, json.dumps(value, allow_nan=True).encode(), "input.json")


@SETTINGS
@given(command=commands, text=broken_report())
def test_randomly_broken_reports(command: tuple[str, ...], text: str) -> None:
    run(command, text.encode(), "input.json")
