"""The Nagios face read as Nagios and Icinga read it: a faithful parser of the plugin output format
(Nagios plugin development guidelines, "Plugin Output": `TEXT | PERFDATA` on the first line, long-output
lines after it, and from the first `|` of any later line on, everything is performance data)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.topologies import h100_nvl_4gpu
from tpdoctor.cli import main
from tpdoctor.model.findings import Report, Status
from tpdoctor.model.topology import Check, CheckState
from tpdoctor.node.health import run_health
from tpdoctor.probes.replay import example_path
from tpdoctor.report import nagios
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
PERF = re.compile(r"^(?:'[^']+'|[^=' ]+)=-?[0-9.]+[a-zA-Z%]*(?:;[-0-9.:~@]*){0,4}$")
LABELS = {"gpus", "nvlinks_down", "nvlinks_degraded", "nvlinks_unknown", "findings_critical", "findings_warning",
          "findings_suppressed", "checks_not_made", "probe_seconds"}


def parse_plugin_output(text: str) -> tuple[str, list[str], list[str]]:
    """(status text, long-output lines, perfdata tokens) as the Nagios core splits a plugin's output."""
    first, *rest = text.rstrip("\n").split("\n")
    summary, _, perf = first.partition("|")
    long_text: list[str] = []
    perf_text = [perf]
    for i, line in enumerate(rest):
        if "|" in line:
            before, _, after = line.partition("|")
            long_text.append(before)
            perf_text += [after, *rest[i + 1:]]
            break
        long_text.append(line)
    return summary.strip(), long_text, " ".join(perf_text).split()


def assert_clean(text: str) -> list[str]:
    summary, long_text, perf = parse_plugin_output(text)
    bad = [p for p in perf if not PERF.match(p) or p.split("=")[0] not in LABELS]
    assert not bad, f"text read as perfdata: {bad}"
    assert summary.startswith("TPDOCTOR ")
    return long_text


def test_pipes_in_commands_and_texts_stay_text() -> None:
    outcome = run_health(lambda: Report(topology=h100_nvl_4gpu()), load_catalogue())
    assert outcome.report is not None
    piped = tuple(replace(f, message=f.message + " (dmesg | grep -i xid)",
                          recommendation="run `nvidia-smi -q | grep -A3 Fabric`") for f in outcome.report.findings)
    gap = Check("fabric", CheckState.NOT_MADE, "fabric registration", reason="nvidia-smi -q | failed",
                command="nvidia-smi -q | grep -A3 Fabric", subjects=("GPU0",))
    report = replace(outcome.report, findings=piped)
    text = nagios.render(report, Status.UNKNOWN, duration_seconds=0.1, gaps=(gap,), error="x | y")
    long_text = assert_clean(text)
    assert "  run: nvidia-smi -q ¦ grep -A3 Fabric" in long_text
    assert text.count("|") == 1
    failed = nagios.render(None, Status.UNKNOWN, duration_seconds=0.1, error="nvidia-smi | hung")
    assert assert_clean(failed) == [] and "nvidia-smi ¦ hung" in failed


@pytest.mark.parametrize("capture", sorted(p.name for p in (ROOT / "fixtures" / "collect").iterdir() if p.is_dir()))
def test_every_real_capture_parses_as_plugin_output(capture: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["health", "--from", str(ROOT / "fixtures" / "collect" / capture)])
    assert code in (0, 1, 2, 3)
    assert_clean(capsys.readouterr().out)


def test_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--from", str(example_path())]) == 2
    long_text = assert_clean(capsys.readouterr().out)
    assert long_text[0].startswith("CRITICAL TPD100")
