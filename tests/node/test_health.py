"""`tpdoctor health` end to end on snapshot fixtures: exit codes, first rule, baseline drift, Prometheus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.topologies import scenario
from tpdoctor.cli import main
from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.coverage import with_coverage
from tpdoctor.model.findings import Report


def snapshot(tmp_path: Path, name: str, bench: tuple[BenchResult, ...] = ()) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(report_json.render(Report(topology=scenario(name), bench=bench)))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["health", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


FAULTS = [
    ("h100-nvl-gpu01-down", 2, "CRITICAL", "TPD100", "GPU0-GPU1 NVLink down (0/12)"),
    ("h100-nvl-gpu01-nv8", 1, "WARNING", "TPD101", "GPU0-GPU1 NVLink degraded: 8/12"),
    ("h100-nvl-replay-errors", 1, "WARNING", "TPD102", "GPU2 NVLink errors: 5000"),
    ("h100-nvl-gpu3-x8", 1, "WARNING", "TPD103", "GPU3 PCIe link at Gen5 x8"),
    ("h100-nvl-p2p-ns", 1, "WARNING", "TPD104", "GPU0-GPU2 peer-to-peer NS"),
    ("hgx-h100-fabric-in-progress", 2, "CRITICAL", "TPD105", "GPU5 NVSwitch fabric not ready (in_progress)"),
    ("hgx-h100-gpu2-lost-4-ports", 1, "WARNING", "TPD101", "GPU0-GPU2 NVLink degraded: 14/18"),
    ("l4-pcie-p2p-tns", 1, "WARNING", "TPD104", "GPU0-GPU2 peer-to-peer TNS"),
    ("hgx-h100-gpu3-lost", 2, "CRITICAL", "TPD108", "GPU3 (00000000:18:00.0, GPU-sw-3) is lost: NVMLError_GpuIsLost"),
]


@pytest.mark.parametrize("name,code,status,rule,text", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, code: int, status: str,
                       rule: str, text: str) -> None:
    rc, lines, _ = run(capsys, "--from", str(snapshot(tmp_path, name)))
    assert rc == code
    assert lines[0].startswith(f"TPDOCTOR {status} - {text}")
    assert " | gpus=" in lines[0]
    assert lines[1].startswith(f"{status} {rule} ")


@pytest.mark.parametrize("name", ["h100-nvl-healthy", "hgx-h100-healthy", "l4-pcie-healthy", "l4-pcie-p2p-cns",
                                  "hgx-h100-mig-gpu7", "h100-nvl-gpu1-idle-gen1"])
def test_healthy_fixture_exits_0_with_no_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 name: str) -> None:
    rc, lines, err = run(capsys, "--from", str(snapshot(tmp_path, name)), "--json")
    assert rc == 0
    assert err.startswith("TPDOCTOR OK - ")  # with --json the summary goes to stderr, stdout is pure JSON
    report = json.loads("\n".join(lines))
    mig = [f for f in report["findings"] if f["rule"] == "TPD134"]  # information: a MIG GPU is configured so
    assert all(f["severity"] == "info" for f in mig) and bool(mig) == (name == "hgx-h100-mig-gpu7")
    assert [f for f in report["findings"] if f["rule"] != "TPD134"] == []
    assert report["status"] == "ok" and report["schema"] == "tpdoctor/v1"


def test_busbw_below_expected_from_bench_in_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slow = BenchResult(group=(0, 1), backend="nccl", bytes=1 << 30, time_us=37000.0, algbw_gbps=48.0,
                       busbw_gbps=48.0)
    rc, lines, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-healthy", (slow,))))
    assert rc == 1
    assert lines[0].startswith("TPDOCTOR WARNING - GPU0+GPU1 all-reduce busbw 48.0 GB/s over NV12, expected about 116")


def test_drift_then_probe_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state").mkdir()  # tpdoctor creates no directories (docs/health.md)
    baseline = tmp_path / "state" / "baseline.json"
    rc, lines, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-healthy")), "--baseline", str(baseline))
    assert rc == 0 and baseline.exists()
    good = baseline.read_bytes()
    assert report_json.loads(good.decode()).topology == with_coverage(scenario("h100-nvl-healthy"))

    rc, lines, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-gpu01-down")), "--baseline", str(baseline),
                       "--json")
    assert rc == 2
    rules = [f["rule"] for f in json.loads("\n".join(lines))["findings"]]
    assert rules == ["TPD100", "TPD107"]
    assert baseline.read_bytes() == good  # a bad run never becomes the baseline

    stat = baseline.stat()
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "tpdoctor/v1", "gpus": [')
    for source in (broken, tmp_path / "missing.json"):
        rc, lines, err = run(capsys, "--from", str(source), "--baseline", str(baseline))
        assert rc == 3
        assert lines[0].startswith("TPDOCTOR UNKNOWN - ") and "Traceback" not in err
        assert baseline.read_bytes() == good and baseline.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in baseline.parent.iterdir()) == ["baseline.json", "baseline.json.lock"]


def test_error_counters_rising_since_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-healthy")), "--baseline", str(baseline))
    rc, lines, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-replay-errors-600")),
                       "--baseline", str(baseline))
    assert rc == 1
    assert [line.split()[1] for line in lines[1:] if not line.startswith(" ")] == ["TPD102", "TPD107"]
    assert "GPU2 NVLink error counters rose 0 -> 600" in "\n".join(lines)


def test_ignore_and_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = str(snapshot(tmp_path, "h100-nvl-gpu3-x8"))
    rc, lines, _ = run(capsys, "--from", snap, "--ignore", "TPD103:riser swap booked")
    assert rc == 0 and lines[0].startswith("TPDOCTOR OK - ")
    assert "SUPPRESSED TPD103" in lines[1] and "riser swap booked" in lines[2]
    rc, lines, _ = run(capsys, "--from", snap, "--fail-on", "critical")
    assert rc == 0 and "(1 finding below --fail-on)" in lines[0]
    rc, lines, _ = run(capsys, "--from", snap, "--severity", "TPD103=critical")
    assert rc == 2
    rc, _, err = run(capsys, "--from", snap, "--ignore", "TPD999")
    assert rc == 3 and "--ignore TPD999: no such rule" in err


def test_baseline_is_written_only_when_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    rc, _, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-gpu3-x8")), "--baseline", str(baseline))
    assert rc == 1 and not baseline.exists()
    rc, _, _ = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-gpu3-x8")), "--baseline", str(baseline),
                   "--ignore", "TPD103")
    assert rc == 0 and baseline.exists()


def test_corrupt_baseline_is_unknown_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text("not json")
    rc, _, err = run(capsys, "--from", str(snapshot(tmp_path, "h100-nvl-healthy")), "--baseline", str(baseline))
    assert rc == 3 and "baseline" in err and "hint: delete" in err
    assert baseline.read_text() == "not json"


def test_lock_waits_then_gives_up(tmp_path: Path) -> None:
    import fcntl

    from tpdoctor.files.lock import locked
    from tpdoctor.model.errors import TpdError

    target = tmp_path / "baseline.json"
    fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT, 0o600)  # what another tpdoctor run makes
    fcntl.flock(fd, fcntl.LOCK_EX)
    ticks = iter(range(100))
    with pytest.raises(TpdError, match="still locked"), locked(target, timeout_seconds=3, clock=lambda: next(ticks),
                                                               sleep=lambda s: None):
        pass
    os.close(fd)
    with locked(target, timeout_seconds=1):
        pass


def test_bench_runs_a_short_pairwise_all_reduce(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--bench measures for real (gloo on CPU here: no published expectation, so no TPD106 verdict), on a
    capture of this very machine; a capture of another host is refused before anything runs."""
    import socket
    from dataclasses import replace

    topo = scenario("h100-nvl-healthy")
    two = replace(topo, gpus=topo.gpus[:2], links=tuple(lk for lk in topo.links if (lk.a, lk.b) == ("GPU0", "GPU1")))
    snap = tmp_path / "two.json"
    snap.write_text(report_json.render(Report(topology=two)))
    rc, lines, err = run(capsys, "--from", str(snap), "--bench")
    assert rc == 3 and lines[0].startswith("TPDOCTOR UNKNOWN - --bench measures this machine")
    assert "is a capture of nvl-node" in lines[0]
    snap.write_text(report_json.render(Report(topology=replace(two, host=socket.gethostname()))))
    prom = tmp_path / "tpdoctor.prom"
    rc, lines, _ = run(capsys, "--from", str(snap), "--bench", "--json", "--prometheus", str(prom))
    assert rc == 0
    report = json.loads("\n".join(lines))
    (result,) = report["bench"]
    assert result["group"] == [0, 1] and result["backend"] == "gloo" and result["correct"]
    assert result["busbw_gbps"] > 0 and report["links"][0]["busbw_gbps"] == result["busbw_gbps"]
    assert 'tpdoctor_allreduce_busbw_bytes_per_second{gpus="GPU0+GPU1",backend="gloo"' in prom.read_text()


def test_a_metrics_file_not_written_keeps_the_nagios_line_plain(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The path of a .prom that could not be written leads the status line; a `|` in it must not start the
    performance data there (Nagios splits at the first `|`)."""
    blocker = tmp_path / "f|g"
    blocker.write_text("")  # a regular file where the directory should be
    root = Path(__file__).resolve().parents[2]
    rc, lines, _ = run(capsys, "--from", str(root / "fixtures" / "collect" / "gb200-tray-healthy"),
                       "--prometheus", str(blocker / "m.prom"))
    assert rc == 3
    assert lines[0].startswith("TPDOCTOR UNKNOWN - metrics not written (") and lines[0].count("|") == 1, lines[0]
    assert lines[0].split(" | ")[1].startswith("gpus=")
