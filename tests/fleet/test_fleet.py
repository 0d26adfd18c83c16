"""Fleet merge: one cluster view from node reports; bad reports are findings, never hide other nodes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from tests.fleet.factory import node
from tpdoctor.cli import cli
from tpdoctor.fleet.load import load_fleet, parse_age
from tpdoctor.fleet.view import build_view, nvlink_domains
from tpdoctor.model import contract as report_json

NOW = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def fleet_dir(tmp: Path) -> Path:
    d = tmp / "reports"
    d.mkdir()
    write(d, "a.json", report_json.render(node("node-a")))
    write(d, "b.json", report_json.render(node("node-b", off_switch=(2,))))
    return d


def test_merge_shows_nodes_broken_links_affinity_and_inventory(tmp_path: Path) -> None:
    view = build_view(load_fleet([fleet_dir(tmp_path)], now=lambda: NOW))
    assert [n.host for n in view.nodes] == ["node-a", "node-b"]
    assert {n.host: n.status for n in view.nodes} == {"node-a": "ok", "node-b": "critical"}
    assert {(b.host, b.a, b.b) for b in view.bad_links} == {
        ("node-b", "GPU0", "GPU2"), ("node-b", "GPU1", "GPU2"), ("node-b", "GPU2", "GPU3"),
        ("node-b", "GPU2", "GPU4"), ("node-b", "GPU2", "GPU5"), ("node-b", "GPU2", "GPU6"),
        ("node-b", "GPU2", "GPU7")}
    assert all(b.nvlinks_expected == 18 and b.health == "down" for b in view.bad_links)
    gpu0 = next(a for a in view.nic_affinity if a.host == "node-a" and a.gpu == 0)
    assert (gpu0.nic, gpu0.nic_name, gpu0.path) == ("NIC0", "mlx5_0", "PIX")
    # node-a: one 8-GPU domain; node-b: a 7-GPU domain plus GPU2 alone.
    assert view.inventory == {"NVIDIA H100 80GB HBM3 x1": 1, "NVIDIA H100 80GB HBM3 x7": 1,
                              "NVIDIA H100 80GB HBM3 x8": 1}
    assert view.status.value == "critical"


def test_held_gpus_leave_the_inventory(tmp_path: Path) -> None:
    view = build_view(load_fleet([fleet_dir(tmp_path)], now=lambda: NOW), held={"node-a": {0, 1}})
    dom = next(d for d in view.domains if d.host == "node-a")
    assert dom.free == (2, 3, 4, 5, 6, 7) and dom.weakest_path == "NV18"


def test_truncated_and_wrong_schema_reports_are_findings_not_fatal(tmp_path: Path) -> None:
    d = fleet_dir(tmp_path)
    good = report_json.render(node("node-c"))
    write(d, "truncated.json", good[: len(good) // 2])
    data = json.loads(good)
    data["schema"] = "tpdoctor/v0"
    write(d, "old.json", json.dumps(data))
    view = build_view(load_fleet([d], now=lambda: NOW))
    assert [n.host for n in view.nodes] == ["node-a", "node-b"]
    problems = {f.rule: f for f in view.findings if f.rule.startswith("TPD30")}
    assert set(problems) == {"TPD300"}
    messages = " ".join(f.message for f in view.findings if f.rule == "TPD300")
    assert "truncated.json:" in messages and "not JSON" in messages
    assert "old.json" in messages and "tpdoctor/v0" in messages


def test_two_nodes_claiming_one_hostname_are_not_merged(tmp_path: Path) -> None:
    d = fleet_dir(tmp_path)
    write(d, "imposter.json", report_json.render(node("node-a", uuid_prefix="other-box")))
    view = build_view(load_fleet([d], now=lambda: NOW))
    assert [n.host for n in view.nodes] == ["node-b"]
    dup = [f for f in view.findings if f.rule == "TPD302"]
    assert len(dup) == 1 and "node-a" in dup[0].message and "imposter.json" in dup[0].message


def test_rerun_of_the_same_node_keeps_the_newest(tmp_path: Path) -> None:
    d = fleet_dir(tmp_path)
    write(d, "a-later.json", report_json.render(node("node-a", off_switch=(5,),
                                                         captured_at="2026-11-21T12:30:00Z")))
    view = build_view(load_fleet([d], now=lambda: NOW))
    a = next(n for n in view.nodes if n.host == "node-a")
    assert a.source.endswith("a-later.json") and a.links_down == 7
    assert not [f for f in view.findings if f.rule == "TPD302"]


def test_stale_reports_are_flagged_and_kept_out_of_placement(tmp_path: Path) -> None:
    d = fleet_dir(tmp_path)
    write(d, "old-node.json", report_json.render(node("node-z", captured_at="2026-11-18T00:00:00Z")))
    view = build_view(load_fleet([d], max_age=timedelta(hours=6), now=lambda: NOW))
    z = next(n for n in view.nodes if n.host == "node-z")
    assert z.stale and z.status == "unknown"
    stale = [f for f in view.findings if f.rule == "TPD301"]
    assert len(stale) == 1 and "3 d old" in stale[0].message
    assert not [dm for dm in view.domains if dm.host == "node-z"]


def test_parse_age() -> None:
    assert parse_age("90s") == timedelta(seconds=90) and parse_age("2d") == timedelta(days=2)
    for bad in ("", "5", "h", "1.5h", "-3m"):
        try:
            parse_age(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_nvlink_domains_split_on_down_links() -> None:
    topo = node("n", off_switch=(0, 1)).topology
    assert nvlink_domains(topo) == [[0], [1], [2, 3, 4, 5, 6, 7]]


def test_cli_fleet_json_and_exit_codes(tmp_path: Path) -> None:
    d = fleet_dir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["fleet", str(d), "--json"], standalone_mode=False)
    assert res.exception is None, res.output
    data = json.loads(res.output)
    assert data["schema"] == "tpdoctor/fleet/v1" and data["status"] == "critical"
    assert res.return_value == 2
    res = runner.invoke(cli, ["fleet", str(d / "a.json")], standalone_mode=False)
    assert res.return_value == 0 and "node-a" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["fleet", str(empty)], standalone_mode=False)
    assert res.return_value == 3


def test_a_report_dated_ahead_ages_from_its_receipt(tmp_path: Path) -> None:
    """A report stamped a year ahead, received a day ago, is stale under --max-age 6h (it never stays fresh
    by its own date) and is TPD306; one a minute ahead is within the tolerance and fresh."""
    import os

    now = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)
    ahead = tmp_path / "a.json"
    ahead.write_text(report_json.render(node("node-a", captured_at="2027-11-21T13:00:00Z")))
    os.utime(ahead, (now.timestamp() - 86400, now.timestamp() - 86400))
    (tmp_path / "b.json").write_text(report_json.render(node("node-b", captured_at="2026-11-21T13:01:00Z")))
    fleet = load_fleet([tmp_path], max_age=parse_age("6h"), now=lambda: now)
    assert {p.kind for p in fleet.problems if p.host == "node-a"} == {"clock-skew", "stale"}
    assert not [p for p in fleet.problems if p.host == "node-b"]
    view = build_view(fleet)
    assert {f.rule for f in view.findings if f.rule.startswith("TPD30")} == {"TPD301", "TPD306"}
