"""Inter-node paths in the fleet view: groups of `bench` results whose members sit on different hosts."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from tests.fleet.factory import cross_node_results, node
from tpdoctor.fleet.load import load_fleet
from tpdoctor.fleet.view import build_view
from tpdoctor.model import contract as report_json
from tpdoctor.model.busbw import measured
from tpdoctor.report.fleet_text import render_text, to_json

NOW = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)


def _write(folder: Path, name: str, report: object) -> None:
    (folder / name).write_text(report_json.render(report))  # type: ignore[arg-type]


def _two_nodes(tmp: Path) -> Path:
    d = tmp / "reports"
    d.mkdir()
    pair = cross_node_results(("node-a", "node-b"), ranks_per_node=8, busbw_gbps=42.0)
    job = cross_node_results(("node-a", "node-b"), ranks_per_node=8, busbw_gbps=38.0, label="job")
    local = measured((0, 1), "nccl", 1 << 20, 10.0, correct=True, iterations=5, dtype="float32",
                     hosts=("node-a", "node-a"))
    _write(d, "a.json", replace(node("node-a"), bench=(*pair, *job, local)))
    _write(d, "b.json", replace(node("node-b"), bench=(*pair, *job)))
    return d


def test_cross_host_groups_become_net_paths_once_each(tmp_path: Path) -> None:
    view = build_view(load_fleet([_two_nodes(tmp_path)], now=lambda: NOW))
    pair, job = view.inter_node
    assert (pair.hosts, pair.ranks, pair.local_ranks, pair.path, pair.label) == \
        (("node-a", "node-b"), (0, 8), (0, 0), "NET", "node-pairs")
    assert pair.busbw_gbps is not None and abs(pair.busbw_gbps - 42.0) < 1e-9
    assert pair.bytes == 64 << 20 and pair.error is None
    assert pair.reported_by == ("node-a", "node-b")  # both reports hold it; listed once
    assert job.hosts == ("node-a", "node-b") and job.ranks == tuple(range(16)) and job.label == "job"
    assert abs(job.busbw_gbps - 38.0) < 1e-9  # type: ignore[operator]
    # the single-host group (GPU0+GPU1 inside node-a) is not an inter-node path


def test_failed_cross_node_group_shows_its_error_and_no_figure(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    err = "watchdog: all-reduce on rank0@node-a+rank1@node-c (nccl, nodes 0+1) did not finish within 60 s"
    _write(d, "a.json", replace(node("node-a"), bench=cross_node_results(("node-a", "node-c"), error=err)))
    view = build_view(load_fleet([d], now=lambda: NOW))
    (lk,) = view.inter_node
    assert lk.busbw_gbps is None and lk.bytes is None and lk.error == err


def test_json_and_text_show_the_net_path(tmp_path: Path) -> None:
    view = build_view(load_fleet([_two_nodes(tmp_path)], now=lambda: NOW))
    data = json.loads(to_json(view))
    first = data["inter_node"][0]
    assert (first["hosts"], first["path"], round(first["busbw_gbps"], 6)) == (["node-a", "node-b"], "NET", 42.0)
    buf = io.StringIO()
    render_text(view, Console(file=buf, width=140))
    text = buf.getvalue()
    assert "Inter-node paths measured (2)" in text
    line = next(ln for ln in text.splitlines() if "node-pairs" in ln)
    assert "node-a ↔ node-b" in line and "NET" in line and "42.0" in line and "64M" in line


def test_reports_without_cross_node_results_have_no_inter_node_section(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    _write(d, "a.json", node("node-a"))
    view = build_view(load_fleet([d], now=lambda: NOW))
    assert view.inter_node == ()
    buf = io.StringIO()
    render_text(view, Console(file=buf, width=140))
    assert "Inter-node" not in buf.getvalue()


def test_old_bench_records_without_hosts_still_load(tmp_path: Path) -> None:
    """Backward compatible: a v1 report written before `hosts`/`local_ranks` existed reads as before."""
    report = replace(node("node-a"), bench=cross_node_results(("node-a", "node-b")))
    data = json.loads(report_json.render(report))
    for b in data["bench"]:
        del b["hosts"], b["local_ranks"]
    back = report_json.loads(json.dumps(data))
    assert all(b.hosts == () and b.local_ranks == () and not b.spans_hosts for b in back.bench)
