"""The rich view renders into any Console; the down NVLink cannot be missed."""

from __future__ import annotations

import os
import re
from io import StringIO
from pathlib import Path

from rich.console import Console

from tests.conftest import EXAMPLE, FIXTURES
from tpdoctor.model.findings import Finding, Severity
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.replay import load
from tpdoctor.report.text import render


def _render(report, width: int = 100, banner: str | None = None) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    render(report, console, banner=banner)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_example_shows_matrix_gpus_legend_notes() -> None:
    out = _render(report_for(load(EXAMPLE)))
    assert out.count("✗NV12→NODE") == 3  # both matrix cells and the legend
    assert "GPU0–GPU1 NVLink DOWN  0/12 NVLinks up; traffic takes NODE (PCIe)" in out
    assert "NV12" in out and "SYS" in out
    for text in ("NVIDIA H100 NVL", "95830 MiB", "1B:00.0", "0-31,64-95", "32-63,96-127", "Gen5 x16", "0/18",
                 "12/18", "NIC0 mlx5_0"):
        assert text in out, text
    assert "Legend:" in out and "NODE same NUMA node" in out
    assert "Probe notes" in out and "bridge pair whose 12 NVLinks are down" in out
    assert "Status: critical (exit 2)" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_down_link_is_coloured_red() -> None:
    console = Console(file=StringIO(), width=100, color_system="truecolor", force_terminal=True)
    render(report_for(load(EXAMPLE)), console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    # bold white on red, right around the marker
    assert "\x1b[1;97;41m✗NV12→NODE" in out or "\x1b[1;38;2;255;255;255;48;2;128;0;0m✗NV12→NODE" in out or (
        "41m✗NV12→NODE" in out), out[:400]


def test_fits_80_columns_without_losing_the_marker() -> None:
    out = _render(report_for(load(EXAMPLE)), width=80)
    assert "✗NV12→NODE" in out
    assert "NVIDIA H100 NVL" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_unknown_values_show_as_question_marks() -> None:
    out = _render(report_for(load(EXAMPLE / "topo-m.txt")))
    assert "unknown GPU" in out and " ? " in out


def test_banner_and_findings() -> None:
    report = report_for(load(EXAMPLE))
    finding = Finding(rule="TPD100", name="nvlink-down", severity=Severity.CRITICAL, subject="GPU0-GPU1",
                      message="NVLink 0/12 up", recommendation="Reseat the NVLink bridge.")
    out = _render(type(report)(topology=report.topology, findings=(finding,), status=report.status),
                  banner="DEMO banner")
    assert out.splitlines()[0].strip() == "DEMO banner"
    assert "CRITICAL TPD100 nvlink-down GPU0-GPU1: NVLink 0/12 up" in out
    assert "→ Reseat the NVLink bridge." in out


def test_sixteen_gpu_fixture_renders() -> None:
    big = [p for p in (FIXTURES / "smi" / "topo-m").glob("*.txt") if "x16" in p.name or "16" in p.stem[:3]]
    for path in big[:1]:
        out = _render(report_for(load(path)), width=100)
        assert "GPU link matrix" in out


SNAPSHOT = Path(__file__).parent / "snapshots" / "example-width100.txt"


def _masked(out: str) -> str:
    """Volatile parts: the capture time (the file's mtime) and where the example is installed."""
    out = re.sub(r"captured \S+", "captured <time>", out)
    return out.replace(str(EXAMPLE), "<example>")


def test_example_matches_the_snapshot() -> None:
    """The whole view of the example; on an intended change, rerun with TPDOCTOR_UPDATE_SNAPSHOTS=1."""
    out = _masked(_render(report_for(load(EXAMPLE))))
    if os.environ.get("TPDOCTOR_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(out)
    assert out == SNAPSHOT.read_text()


def test_not_checked_section_and_unknown_cells() -> None:
    from tests.topologies import scenario
    from tpdoctor.node.verdict import report_for as judged

    buf = StringIO()
    render(judged(scenario("h100-nvl-ports-unread")), Console(file=buf, width=100, color_system=None))
    text = buf.getvalue()
    assert "?NODE" in text  # GPU0-GPU1: health unknown, not a plain (healthy-looking) NODE
    assert "Not checked (the status cannot be ok without these)" in text
    assert "NVLink port states [GPU0, GPU1, GPU2, GPU3]: NVLink port states not read" in text
    assert "→ run `nvidia-smi nvlink --status`" in text
    assert "Status: unknown (exit 3)" in text
