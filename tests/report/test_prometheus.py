"""The textfile-collector output parses with prometheus_client's own parser and follows its naming rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.topologies import scenario
from tpdoctor.cli import main
from tpdoctor.engine.evaluate import evaluate
from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.findings import Report, Status, status_of
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.report.catalogue import load_catalogue
from tpdoctor.report.prometheus import render

METRIC = re.compile(r"^tpdoctor_[a-z][a-z0-9_]*$")
LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
DCGM_LABELS = {"UUID", "Hostname"}  # dcgm-exporter's own spelling, kept so the series join
UNITS = ("_seconds", "_bytes_per_second", "_total")


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def report_for(name: str, bench: tuple[BenchResult, ...] = ()) -> Report:
    topo = scenario(name)
    ev = evaluate(load_catalogue(), NODE_SCHEMA, node_facts(topo, bench))
    return Report(topology=topo, bench=bench, findings=ev.findings, status=status_of(ev.findings))


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    fam = families(text)[name]
    return {tuple(sorted(s.labels.items())): s.value for s in fam.samples}  # type: ignore[attr-defined]


def by_pair(text: str, name: str) -> dict[tuple[str, str], float]:
    fam = families(text)[name]
    return {(s.labels["gpu"], s.labels["peer_gpu"]): s.value for s in fam.samples}  # type: ignore[attr-defined]


def test_names_follow_conventions() -> None:
    bench = (BenchResult(group=(0, 1), backend="nccl", bytes=1 << 30, time_us=9000.0, algbw_gbps=110.0,
                         busbw_gbps=110.0),)
    report = report_for("h100-nvl-gpu01-down", bench)
    text = render(report, probe_success=True, probe_duration_seconds=0.25, status=report.status,
                  timestamp_seconds=1.7e9)
    fams = list(text_string_to_metric_families(text))
    assert len(fams) >= 12
    for fam in fams:
        assert METRIC.match(fam.name), fam.name
        assert fam.documentation and fam.type in ("gauge", "counter")
        assert "gbps" not in fam.name and "gb_" not in fam.name  # base units only
        for s in fam.samples:
            for label in s.labels:
                assert (LABEL.match(label) or label in DCGM_LABELS) and not label.startswith("__"), label
        if fam.type == "counter":
            assert all(s.name.endswith("_total") for s in fam.samples)
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total")
        name = line.split("{")[0].split()[0] if not line.startswith("#") else ""
        if any(u in name for u in ("duration", "busbw", "timestamp")):
            assert name.endswith(UNITS), name


def test_values_say_what_happened() -> None:
    bench = (BenchResult(group=(2, 3), backend="nccl", bytes=1 << 30, time_us=9000.0, algbw_gbps=110.0,
                         busbw_gbps=110.0),)
    report = report_for("h100-nvl-gpu01-down", bench)
    text = render(report, probe_success=True, probe_duration_seconds=0.25, status=Status.CRITICAL,
                  timestamp_seconds=1.7e9)
    pair01, pair23 = ("0", "1"), ("2", "3")
    assert by_pair(text, "tpdoctor_link_up") == {pair01: 0.0, pair23: 1.0}
    assert by_pair(text, "tpdoctor_link_nvlinks_bonded") == {pair01: 0.0, pair23: 12.0}
    assert by_pair(text, "tpdoctor_link_nvlinks_expected") == {pair01: 12.0, pair23: 12.0}
    assert samples(text, "tpdoctor_findings")[(("name", "nvlink-down"), ("rule", "TPD100"),
                                               ("severity", "critical"))] == 1.0
    assert samples(text, "tpdoctor_health_status") == {(): 2.0}
    assert samples(text, "tpdoctor_probe_success") == {(): 1.0}
    busbw = samples(text, "tpdoctor_allreduce_busbw_bytes_per_second")
    assert busbw == {(("backend", "nccl"), ("gpus", "GPU2+GPU3"), ("size_bytes", str(1 << 30))): 110e9}
    errors = samples(text, "tpdoctor_nvlink_errors")
    assert len(errors) == 4 * 4  # GPUs x counters: totals per GPU
    per_link = samples(text, "tpdoctor_nvlink_link_errors")
    assert len(per_link) == 2 * 12 * 4  # only GPU2 and GPU3 have active NVLinks (12 each) x counters


def test_label_values_are_escaped() -> None:
    from dataclasses import replace

    report = report_for("h100-nvl-healthy")
    report = replace(report, bench=(BenchResult(group=(0, 1), backend='nc"cl\\x', bytes=1, time_us=1.0,
                                                algbw_gbps=1.0, busbw_gbps=1.0),))
    text = render(report, probe_success=True, probe_duration_seconds=0.1, status=Status.OK, timestamp_seconds=0.0)
    (value,) = samples(text, "tpdoctor_allreduce_busbw_bytes_per_second")
    assert dict(value)["backend"] == 'nc"cl\\x'


def test_cli_writes_atomically_and_reports_probe_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prom = tmp_path / "textfile" / "tpdoctor.prom"
    prom.parent.mkdir()  # tpdoctor creates no directories (docs/health.md)
    snap = tmp_path / "snap.json"
    snap.write_text(report_json.render(Report(topology=scenario("hgx-h100-healthy"))))
    assert main(["health", "--from", str(snap), "--prometheus", str(prom)]) == 0
    fams = families(prom.read_text())
    assert "tpdoctor_link_up" in fams and "tpdoctor_findings_by_severity" in fams
    assert main(["health", "--from", str(tmp_path / "gone.json"), "--prometheus", str(prom)]) == 3
    fams = families(prom.read_text())
    assert samples(prom.read_text(), "tpdoctor_probe_success") == {(): 0.0}
    assert samples(prom.read_text(), "tpdoctor_health_status") == {(): 3.0}
    assert "tpdoctor_link_up" not in fams
    assert [p.name for p in prom.parent.iterdir()] == ["tpdoctor.prom"]  # no temp files left behind
    capsys.readouterr()


def test_unknown_parts_are_metrics_and_never_a_false_link_down() -> None:
    from tpdoctor.node.verdict import report_for as judged

    report = judged(scenario("h100-nvl-ports-unread"))
    text = render(report, probe_success=True, probe_duration_seconds=0.1, status=report.status,
                  timestamp_seconds=1.0)
    made = samples(text, "tpdoctor_check_made")
    assert made == {(("check", "links"),): 0.0, (("check", "nvlink_ports"),): 0.0, (("check", "gpu_info"),): 1.0,
                    (("check", "nvlink_errors"),): 0.0, (("check", "p2p"),): 1.0,
                    (("check", "gpu_health"),): 1.0}  # fabric: not applicable
    assert samples(text, "tpdoctor_links_unknown") == {(): 1.0}
    up = samples(text, "tpdoctor_link_up")
    up = by_pair(text, "tpdoctor_link_up")
    assert ("0", "1") not in up  # unknown, not 0 ("down")
    assert up[("2", "3")] == 1.0
    assert samples(text, "tpdoctor_health_status") == {(): 3.0}


def test_series_join_dcgm_exporter_and_suppression_follows_the_verdict(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """dcgm-exporter labels a GPU `gpu="0"`, `UUID`, `pci_bus_id` (its rendermetrics template): every
    per-GPU series here carries the same, so `on(gpu, UUID)` joins. `--ignore TPD100` takes the finding
    out of the judgement series (tpdoctor_finding, health_status) and into tpdoctor_finding_suppressed;
    tpdoctor_link_up stays the observation (0: the wire is down)."""
    from tpdoctor.probes.replay import example_path

    prom = tmp_path / "t.prom"
    assert main(["health", "--from", str(example_path()), "--prometheus", str(prom)]) == 2
    text = prom.read_text()
    gpu0 = {s.labels["gpu"]: s.labels for s in families(text)["tpdoctor_nvlink_errors"].samples}["0"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"GPU-[0-9a-f-]{36}", gpu0["UUID"]) and re.fullmatch(r"[0-9A-F]{8}:[0-9A-F]{2}:00\.0",
                                                                              gpu0["pci_bus_id"])
    assert gpu0["Hostname"] == "gpu01"
    (finding,) = families(text)["tpdoctor_finding"].samples  # type: ignore[attr-defined]
    assert (finding.labels["rule"], finding.labels["gpu"], finding.labels["peer_gpu"]) == ("TPD100", "0", "1")
    assert main(["health", "--from", str(example_path()), "--prometheus", str(prom),
                 "--ignore", "TPD100:on order"]) == 0
    text = prom.read_text()
    assert not families(text)["tpdoctor_finding"].samples  # type: ignore[attr-defined]
    (gone,) = families(text)["tpdoctor_finding_suppressed"].samples  # type: ignore[attr-defined]
    assert (gone.labels["rule"], gone.labels["gpu"], gone.labels["peer_gpu"]) == ("TPD100", "0", "1")
    assert by_pair(text, "tpdoctor_link_up")[("0", "1")] == 0.0
    assert samples(text, "tpdoctor_health_status") == {(): 0.0}
    info = families(text)["tpdoctor_build_info"].samples[0].labels  # type: ignore[attr-defined]
    assert info["version"] and info["schema"] == "tpdoctor/v1"
    capsys.readouterr()


def test_promtool_accepts_the_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`promtool check metrics` (Prometheus' own linter), where it is installed."""
    import shutil
    import subprocess

    from tpdoctor.probes.replay import example_path

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian/Ubuntu: apt-get install prometheus)")
    prom = tmp_path / "t.prom"
    main(["health", "--from", str(example_path()), "--prometheus", str(prom)])
    capsys.readouterr()
    proc = subprocess.run([promtool, "check", "metrics"], input=prom.read_text(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr
