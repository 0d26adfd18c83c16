"""The rich view renders into any Console; the down NVLink cannot be missed."""

from __future__ import annotations

import os
import re
from io import StringIO
from pathlib import Path

import pytest
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


@pytest.mark.parametrize("width", [80, 100, 120])
def test_eight_gpus_with_a_dark_gpu_stay_readable(width: int) -> None:
    """Every row keeps its label, no cell is cut (`✗NV18→…`), no line passes the width, and below the
    full cells' width the matrix switches to compact cells and says so."""
    from tests.topologies import scenario

    out = _render(report_for(scenario("hgx-h100-gpu3-dark")), width=width)
    rows = [line for line in out.splitlines() if re.match(r"^ GPU\d +(X|NV18|✗)", line)]
    assert [r.split()[0] for r in rows[:8]] == [f"GPU{i}" for i in range(8)]
    assert "…" not in "\n".join(rows) and all(len(line) <= width for line in out.splitlines())
    compact = width < 108  # the full matrix needs 108 columns here (8 cells of `✗NV18→NODE`)
    assert ("compact: ✗NODE" in out) is compact
    assert rows[3].split()[1:] == (["✗NODE"] * 3 + ["X"] + ["✗SYS"] * 4 if compact
                                   else ["✗NV18→NODE"] * 3 + ["X"] + ["✗NV18→SYS"] * 4)


def test_wrapped_findings_hang_and_commands_stay_whole() -> None:
    from tests.topologies import scenario

    out = _render(report_for(scenario("hgx-h100-gpu3-dark")), width=80)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "TPD111" in line)
    block = lines[start:lines.index(next(x for x in lines[start:] if x.startswith("Status:")))]
    assert all(line.startswith(" " * 10) for line in block[1:]), block  # nothing back at column 0
    text = " ".join(x.strip() for x in block)
    for command in ("`nvidia-smi nvlink --status -i 3`", "`nvidia-smi -q -i 3 | grep -A3 Fabric`",
                    "`nvidia-smi -r -i 3`"):
        assert any(command in line for line in block), command  # on one line, never cut
    assert "HGX/DGX baseboard" in text


def test_a_token_longer_than_the_line_is_not_cut() -> None:
    from tpdoctor.report.wrap import lines

    path = "/var/lib/tpdoctor/" + "x" * 90 + "/snapshot.json"
    got = lines(f"replayed from {path} today", 40, 37)
    assert path in got and all(len(x) <= 40 for x in got if x != path)


def test_demo_footer_tells_the_truth(capsys: pytest.CaptureFixture[str]) -> None:
    from tpdoctor.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "(exit 2)" not in out and "`tpdoctor demo --exit-status` exits 2" in " ".join(out.split())
    assert main(["demo", "--exit-status"]) == 2
    assert capsys.readouterr().out.rstrip().endswith("Status: critical (exit 2)")
