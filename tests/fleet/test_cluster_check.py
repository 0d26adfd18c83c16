"""Cluster-wide check-deployment (`--fleet`): cross-node TP, PP across nodes, NIC locality, fleet placement."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import pytest

from tests.fleet.factory import cross_node_results, node
from tpdoctor.cli import main
from tpdoctor.deploy.check import check, read_manifests
from tpdoctor.engine.rule import Rule
from tpdoctor.fleet.cluster import ClusterResult, check_fleet
from tpdoctor.fleet.load import FleetInput, NodeReport, load_fleet
from tpdoctor.manifests.loader import read_text
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "fixtures" / "fleet"
NOW = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    return tuple(load_catalogue())


def fixture_fleet() -> FleetInput:
    return load_fleet([FLEET / "reports"], max_age=timedelta(days=1), now=lambda: NOW)


def run(manifest: str, fleet: FleetInput | None = None) -> ClusterResult:
    return check_fleet(read_manifests([FLEET / manifest]), fleet or fixture_fleet(), rules())


def fleet_of(*reports, stale: tuple[str, ...] = ()) -> FleetInput:  # type: ignore[no-untyped-def]
    return FleetInput(tuple(NodeReport(f"{r.topology.host}.json", r, stale=r.topology.host in stale)
                            for r in reports), ())


def active(result: ClusterResult, rule: str | None = None) -> list:  # type: ignore[type-arg]
    return [f for f in result.findings if not f.suppressed and f.evidence.get("judged") is not False
            and (rule is None or f.rule == rule)]


def facts(result: ClusterResult, name: str) -> dict:  # type: ignore[type-arg]
    return next(f for f in result.facts if f["name"] == name)


def test_tp_across_nodes_is_tpd203_with_the_measured_net_path_and_its_cost() -> None:
    result = run("tp-cross-node.yaml")
    (f,) = active(result, "TPD203")
    assert f.severity.value == "critical"
    assert "NET (gpu-a ↔ gpu-b)" in f.message and "at 80 GB/s busbw, measured: node-pairs gpu-a ↔ gpu-b" in f.message
    facts_ = facts(result, "l405-tp16")
    assert facts_["net_busbw_gbps"] == 80.0 and facts_["net_bw_source"].startswith("measured")
    # 2 × 126 all-reduces per token, each ≥ 47 µs over the network
    assert facts_["net_allreduce_us"] >= 47 and facts_["net_allreduce_ms_per_token"] >= 252 * 47 / 1000
    # 405B in FP8 fits one node: one TP=8 group per node beats TP across nodes (and PP) on the objective
    assert facts_["cross_node_choice"] == "replicas" and "run 2 replicas of TP=8, one per node" in f.recommendation
    assert "ms of every token now" in f.recommendation
    assert facts_["pp_net_ms_per_token"] < facts_["net_allreduce_ms_per_token"] / 50


def test_without_a_measurement_the_net_figure_is_nominal_from_the_nics() -> None:
    fleet = fleet_of(node("n1"), node("n2"))
    deps = read_text("deployments:\n  - {name: big, model: llama-3.1-405b, dtype: fp8, tp: 16, nodes: 2, "
                     "gpu_count: 8}\n", "jobs.yaml")
    result = check_fleet(deps, fleet, rules())
    f = facts(result, "big")
    # 8 GPUs use both NICs (PIX to their halves): 2 × 400 Gb/s × 0.9
    assert f["net_busbw_gbps"] == 90.0 and f["net_bw_source"].startswith("nominal: 2 NIC(s)")
    # at the assumed 32 streams one TP=8 group per node is predicted ahead, but within the band of two
    # predictions' error: TPD221 keeps it and says the options are too close to call, with both numbers
    (kept,) = active(result, "TPD221")
    assert f["cross_node_choice"] == "keep" and "too close to call" in kept.recommendation


def test_pp_across_nodes_with_tp_inside_each_nvlink_domain_is_clean() -> None:
    result = run("pp-across-nodes.yaml")
    assert [f.rule for f in active(result) if f.rule.startswith("TPD2")] == []
    f = facts(result, "l405-pp2")
    assert f["multi_node"] is True and f["cross_node"] is False and f["gpus_without_local_nic"] == []
    assert f["stage_nodes"] == ["gpu-a GPU0+GPU1+GPU2+GPU3+GPU4+GPU5+GPU6+GPU7 (NV18)",
                                "gpu-b GPU0+GPU1+GPU2+GPU3+GPU4+GPU5+GPU6+GPU7 (NV18)"]


def test_pp_stage_outside_one_nvlink_domain_is_found_on_its_node() -> None:
    # both nodes have GPU2 off the fabric: every 8-GPU stage includes it
    fleet = fleet_of(node("n1", off_switch=(2,)), node("n2", off_switch=(2,)))
    deps = read_text("deployments:\n  - {name: pp, model: llama-3.1-405b, dtype: fp8, tp: 8, pp: 2, nodes: 2, "
                     "gpu_count: 8}\n", "jobs.yaml")
    result = check_fleet(deps, fleet, rules())
    assert [f.rule for f in active(result, "TPD200")] == ["TPD200"]
    assert not active(result, "TPD203")


def test_multinode_job_without_local_rdma_nic_is_tpd212_and_names_the_gpus() -> None:
    result = run("lws-no-local-nic.yaml")
    (f,) = active(result, "TPD212")
    assert f.severity.value == "warning"
    assert "gpu-d GPU0 (nearest NIC0 over SYS)" in f.message
    p = result.placements[0]
    assert p.deployment.kind == "LeaderWorkerSet" and p.deployment.nodes == 2
    assert p.stages[0][0] == "gpu-d" and p.stages[1][0] != "gpu-d"  # leader where nodeSelector says


def test_single_node_jobs_do_not_care_about_nics() -> None:
    fleet = fleet_of(node("n1", nic_path="SYS"))
    deps = read_text("deployments:\n  - {name: one, model: llama-3.1-8b, tp: 1, node: n1, gpus: [0]}\n", "j.yaml")
    assert not active(check_fleet(deps, fleet, rules()), "TPD212")


def test_nodename_pins_a_pod_to_its_node() -> None:
    result = run("pod-nodename.yaml")
    assert result.placements[0].stages == (("gpu-c", (0, 2)),)
    assert {f.rule for f in active(result)} >= {"TPD200", "TPD209"}
    assert result.status.value == "critical"


def test_placement_honours_held_gpus_stale_nodes_and_faults() -> None:
    result = run("jobs.yaml")
    where = {p.deployment.name: (p.how, p.stages) for p in result.placements}
    assert where["pinned-a"] == ("pinned", (("gpu-a", (0, 1, 2, 3)),))
    assert where["on-c"] == ("node", (("gpu-c", (4, 5, 6, 7)),))  # the healthy half, not GPU2
    # a whole healthy node: not gpu-a (4 GPUs held), not gpu-c (faulty), not gpu-old (stale)
    assert where["anywhere-8"] == ("placed", (("gpu-b", tuple(range(8))),))
    assert where["on-stale"][1] == (("gpu-old", (0,)),)
    assert any(f.rule == "TPD301" for f in result.findings)  # the stale report itself is a finding
    assert "stale" in (result.placements[3].note or "")


def test_fleet_placement_fills_nodes_without_double_booking() -> None:
    fleet = fleet_of(node("n1"), node("n2"), node("n3", off_switch=(5,)), node("n4"), stale=("n4",))
    lines = ["deployments:"] + [f"  - {{name: d{i}, model: llama-3.1-8b, tp: 2}}" for i in range(13)]
    result = check_fleet(read_text("\n".join(lines) + "\n", "j.yaml"), fleet, rules())
    taken: dict[str, set[int]] = {}
    for p in result.placements:
        for host, gpus in p.stages:
            assert host != "n4"  # stale
            assert gpus is not None and not taken.setdefault(host, set()) & set(gpus)
            taken[host] |= set(gpus)
    # healthy NVLink pairs first (n1, n2 and n3 without GPU5), then GPU5's PCIe pair: 12 + 1
    assert [p.how for p in result.placements].count("placed") == 12
    assert result.placements[-1].how == "unplaced" or 5 in result.placements[-1].stages[0][1]


def test_equal_deployments_share_one_assessment_and_keep_their_own_names() -> None:
    fleet = fleet_of(*(node(f"n{i}", off_switch=(1,)) for i in range(6)))
    lines = ["deployments:"] + [f"  - {{name: d{i}, model: qwen35-27b, dtype: fp8, tp: 2, node: n{i}, "
                                 f"gpus: [0, 1]}}" for i in range(6)]
    result = check_fleet(read_text("\n".join(lines) + "\n", "j.yaml"), fleet, rules())
    assert result.stats["assess_calls"] == 1 and result.stats["distinct_fact_sets"] == 1
    tpd200 = active(result, "TPD200")  # GPU1 dropped off the fabric on every node: the pinned pair is broken
    assert sorted(f.subject for f in tpd200) == [f"d{i}" for i in range(6)]
    assert all(f.message.startswith(f.subject + ":") for f in tpd200)
    assert {f["host"] for f in result.facts} == {f"n{i}" for i in range(6)}


def test_fleet_facts_agree_with_the_single_node_check() -> None:
    """The shared assessments are the same as checking each node on its own."""
    fleet = fleet_of(node("n1"), node("n2", off_switch=(1,)))
    text = ("deployments:\n"
            "  - {name: a, model: qwen35-27b, dtype: fp8, tp: 2, node: n1, gpus: [0, 1]}\n"
            "  - {name: b, model: qwen35-27b, dtype: fp8, tp: 2, node: n2, gpus: [0, 1]}\n"
            "  - {name: c, model: llama-3.1-70b, dtype: fp8, tp: 4, node: n2, gpus: [4, 5, 6, 7]}\n")
    deps = read_text(text, "j.yaml")
    result = check_fleet(deps, fleet, rules())
    for host in ("n1", "n2"):
        topo = next(n.report.topology for n in fleet.nodes if n.host == host)
        mine = [d for d in deps if d.node == host]
        single = check(mine, topo, list(rules()))
        for one in single.facts:
            many = facts(result, one["name"])
            skip = {"placement", "stage_nodes", "source"}
            assert {k: v for k, v in many.items() if k not in skip} == {k: v for k, v in one.items() if k not in skip}
        assert sorted((f.rule, f.subject, f.message) for f in single.report.findings) == sorted(
            (f.rule, f.subject, f.message) for f in result.findings if f.subject in {d.name for d in mine})


def test_gpu_overlap_on_a_node_is_found_with_advice() -> None:
    fleet = fleet_of(node("n1"))
    text = ("deployments:\n  - {name: x, model: llama-3.1-8b, tp: 2, node: n1, gpus: [0, 1]}\n"
            "  - {name: y, model: llama-3.1-8b, tp: 2, node: n1, gpus: [1, 2]}\n")
    result = check_fleet(read_text(text, "j.yaml"), fleet, rules())
    overlaps = active(result, "TPD207")
    assert {f.subject for f in overlaps} == {"x", "y"}
    assert all("x keeps GPU0+GPU1" in f.recommendation for f in overlaps)


def test_measured_pair_figure_beats_nominal_only_for_the_measured_pair() -> None:
    pair = cross_node_results(("n1", "n2"), ranks_per_node=8, busbw_gbps=30.0, sizes=(1 << 30,))
    fleet = fleet_of(replace(node("n1"), bench=pair), replace(node("n2"), bench=pair))
    deps = read_text("deployments:\n  - {name: big, model: llama-3.1-405b, dtype: fp8, tp: 16, nodes: 2, "
                     "gpu_count: 8}\n", "j.yaml")
    f = facts(check_fleet(deps, fleet, rules()), "big")
    assert f["net_busbw_gbps"] == 30.0 and "node-pairs n1 ↔ n2" in f["net_bw_source"]


def test_cli_fleet_json_text_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check-deployment", str(FLEET / "tp-cross-node.yaml"), "--fleet", str(FLEET / "reports"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["schema"] == "tpdoctor/fleet-check/v1" and data["status"] == "critical"
    assert data["nodes"] == 5 and data["placements"][0]["stages"][0]["host"] == "gpu-a"
    assert any(f["rule"] == "TPD203" for f in data["findings"])
    assert data["deployments"][0]["net_path"] == "NET (gpu-a ↔ gpu-b)"

    code = main(["check-deployment", str(FLEET / "pp-across-nodes.yaml"), "--fleet", str(FLEET / "reports")])
    out = capsys.readouterr().out
    assert code == 0 and "fleet of 5 nodes" in out and "1 placed by tpdoctor" in out and out.rstrip().endswith("OK")

    code = main(["check-deployment", str(FLEET / "jobs.yaml"), "--fleet", str(FLEET / "reports"),
                 "--max-age", "1000d"])
    out = capsys.readouterr().out
    assert code == 1 and "TPD211 unpinned-placement-risk × 1" in out and "on-c  llama-3.1-70b" in out

    code = main(["check-deployment", str(FLEET / "pod-nodename.yaml"), "--fleet", str(FLEET / "reports"),
                 "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    assert code == 2 and {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"TPD200"}


def test_cli_fleet_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check-deployment", str(FLEET / "jobs.yaml"), "--fleet", str(FLEET / "reports")]
    assert main([*args, "--topology", str(ROOT / "fixtures" / "topologies" / "h100-sxm-8.json")]) == 3
    assert "--fleet checks against the node reports" in capsys.readouterr().err
    assert main([*args, "--max-age", "soon"]) == 3
    assert main(["check-deployment", str(FLEET / "jobs.yaml"), "--max-age", "1d"]) == 3


def test_cli_fleet_with_only_bad_reports_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text('{"schema": "tpdoctor/v1", "host": ')
    assert main(["check-deployment", str(FLEET / "jobs.yaml"), "--fleet", str(tmp_path)]) == 3
    assert "no usable node report" in capsys.readouterr().err


def test_cli_fleet_malformed_manifest_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments:\n  - {name: x, model: llama-3.1-8b, tp: two}\n")
    assert main(["check-deployment", str(bad), "--fleet", str(FLEET / "reports")]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "tp must be a positive integer" in err


def test_a_broken_group_with_nothing_better_on_its_node_is_moved_across_the_fleet() -> None:
    fleet = fleet_of(node("n1", off_switch=(1,)), node("n2"))
    text = ("deployments:\n  - {name: x, model: qwen35-27b, dtype: fp8, tp: 2, node: n1, gpus: [0, 1]}\n"
            "  - {name: rest, model: llama-3.1-70b, dtype: fp8, tp: 4, node: n1, gpus: [2, 3, 4, 5]}\n"
            "  - {name: more, model: llama-3.1-8b, tp: 2, node: n1, gpus: [6, 7]}\n")
    result = check_fleet(read_text(text, "j.yaml"), fleet, rules())
    (f,) = active(result, "TPD200")
    assert "move it to n2 GPU0+GPU1 (NV18), the best free group of 2 GPUs in the fleet" in f.recommendation
    assert facts(result, "x")["better_group"] is None


def test_replicas_of_an_unpinned_deployment_each_get_free_gpus() -> None:
    fleet = fleet_of(node("n1"), node("n2"))
    text = ("deployments:\n  - {name: r, model: llama-3.1-8b, tp: 4, replicas: 3}\n"
            "  - {name: late, model: llama-3.1-8b, tp: 4}\n"
            "  - {name: none-left, model: llama-3.1-8b, tp: 2, replicas: 2}\n")
    result = check_fleet(read_text(text, "j.yaml"), fleet, rules())
    r, late, none_left = result.placements
    used = [r.stages[0], *(c[0] for c in r.copies), late.stages[0]]
    assert len(r.copies) == 2 and len({(h, g) for h, g in used}) == 4
    assert sorted(h for h, _ in used) == ["n1", "n1", "n2", "n2"]
    assert none_left.how == "unplaced" and none_left.copies == ()
