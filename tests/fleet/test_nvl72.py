"""Must show: an NVL72 fleet of 18 tray reports (plus a second rack) grouped into multi-node NVLink domains;
TP=8 across two trays judged NVLink and placed inside one healthy domain; the same job across two racks
is TPD203; measured multi-node figures used when the trays' reports hold them."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from tests.fleet.factory import cross_node_results
from tpdoctor.deploy.check import read_manifests
from tpdoctor.fleet.cluster import ClusterResult, check_fleet
from tpdoctor.fleet.load import load_fleet
from tpdoctor.fleet.view import build_view
from tpdoctor.model import contract
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
NVL72 = ROOT / "fixtures" / "fleet" / "nvl72"
RACK_A = "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766"
RACK_B = "7b968a6d-c8aa-45e1-9e07-e1e51be99c31.32766"


def check(jobs: Path, *fleet: Path) -> ClusterResult:
    return check_fleet(read_manifests([jobs]), load_fleet(list(fleet or [NVL72])), load_catalogue())


def active(result: ClusterResult, name: str) -> list[str]:
    return sorted(f.rule for f in result.findings if f.subject == name and f.judged and not f.suppressed)


def test_fleet_groups_trays_into_nvlink_domains() -> None:
    view = build_view(load_fleet([NVL72]))
    by_id = {d.id: d for d in view.nvlink_domains}
    assert sorted(by_id) == [RACK_A, RACK_B, "7b968a6d-c8aa-45e1-9e07-e1e51be99c31.4026"]
    a = by_id[RACK_A]
    assert (len(a.members), a.gpus, a.unhealthy) == (18, 72, ())
    assert a.hosts == tuple(f"a-{i:02d}" for i in range(1, 19))
    b = by_id[RACK_B]
    assert len(b.members) == 16 and "b-11" not in b.hosts and "b-18" not in b.hosts
    assert [u.split(":")[0] for u in b.unhealthy] == ["b-05"]
    assert "bandwidth degraded" in b.unhealthy[0]
    assert [m.host for m in b.members if m.imex == "not_ready"] == ["b-09"]
    assert [u.split(":")[0] for u in view.nvlink_domain_unknown] == ["b-11"]
    fired = sorted((f.rule, f.subject) for f in view.findings if f.rule.startswith("TPD3"))
    assert fired == [("TPD303", RACK_B), ("TPD304", "7b968a6d-c8aa-45e1-9e07-e1e51be99c31.4026"),
                     ("TPD305", RACK_B)]


def test_tp8_across_two_trays_is_nvlink_inside_one_healthy_domain() -> None:
    result = check(NVL72 / "jobs.yaml")
    (p,) = result.placements
    hosts = [h for h, _ in p.stages]
    assert hosts == ["a-01", "a-02"] and all(g == (0, 1, 2, 3) for _, g in p.stages)
    (facts,) = result.facts
    assert facts["in_nvlink_domain"] is True and facts["nvlink_domain"] == RACK_A
    assert facts["cross_node"] is True  # the TP group spans nodes ...
    assert facts["net_path"].startswith("NV18 (NVLink domain")  # ... over NVLink, not the network
    assert facts["net_busbw_gbps"] == 720.0 and facts["net_bw_source"].startswith("nominal: NV18 × 0.8")
    assert "TPD203" not in active(result, "l405-tp8") and result.status.value == "ok"


def test_the_same_job_across_two_racks_is_tpd203() -> None:
    result = check(NVL72 / "jobs-cross-rack.yaml")
    p = next(x for x in result.placements if x.deployment.name == "l405-tp8")
    assert [h for h, _ in p.stages] == ["a-01", "b-01"]  # rack A is full: its second tray is in rack B
    facts = next(f for f in result.facts if f["name"] == "l405-tp8")
    assert facts["in_nvlink_domain"] is False and facts["nvlink_domain"] is None
    assert facts["net_path"] == "NET (a-01 ↔ b-01)"
    assert active(result, "l405-tp8") == ["TPD203"]
    tpd203 = next(f for f in result.findings if f.rule == "TPD203")
    assert "crosses NET (a-01 ↔ b-01)" in tpd203.message


def test_measured_multi_node_figure_replaces_the_nominal_one(tmp_path: Path) -> None:
    """Reports of a-01 and a-02 holding a `tpdoctor bench --nnodes 2` job result between them: that figure
    (not NVLink5's nominal rating) prices the TP group, and the fleet shows the path as NVLink domain."""
    fleet = tmp_path / "fleet"
    shutil.copytree(NVL72 / "rack-a", fleet)
    bench = cross_node_results(("a-01", "a-02"), ranks_per_node=4, busbw_gbps=610.0, sizes=(1 << 30,),
                               label="job")
    for host in ("a-01", "a-02"):
        path = fleet / f"{host}.json"
        report = contract.loads(path.read_text())
        path.write_text(contract.render(replace(report, bench=bench)))
    result = check(NVL72 / "jobs.yaml", fleet)
    (facts,) = result.facts
    assert facts["in_nvlink_domain"] is True and facts["net_busbw_gbps"] == 610.0
    assert facts["net_bw_source"].startswith("measured: job a-01 ↔ a-02")
    (link,) = build_view(load_fleet([fleet])).inter_node
    assert link.path == "NVLink domain" and link.domains == (RACK_A, RACK_A)


def test_one_tray_alone_cannot_judge_a_cross_tray_group(capsys) -> None:  # type: ignore[no-untyped-def]
    """check-deployment on one tray's report: where the job's other trays sit is unknown, so TPD203 says it
    could not judge, naming --fleet; it is not a false critical."""
    from tpdoctor.cli import main

    rc = main(["check-deployment", str(NVL72 / "jobs.yaml"), "--topology", str(NVL72 / "rack-a" / "a-01.json"),
               "--json"])
    out = capsys.readouterr().out
    data = __import__("json").loads(out)
    tpd203 = [f for f in data["findings"] if f["rule"] == "TPD203"]
    assert len(tpd203) == 1 and tpd203[0]["evidence"]["judged"] is False
    assert "--fleet" in tpd203[0]["message"]
    # so OK cannot be promised: the network question is open, and --fleet answers it
    assert rc == 3 and any(q["question"] == "network" and "--fleet" in q["answer_with"]
                           for q in data["questions"] if not q["answered"])


def test_unhealthy_members_and_imex_are_findings_for_jobs_spanning_them() -> None:
    jobs = ROOT / "tests" / "rules"
    pinned_bad = check(jobs / "TPD230" / "positive.yaml")  # on b-05 itself: its own tray (TPD230), no other
    assert active(pinned_bad, "l405-b05") == ["TPD230"]
    assert [h for h, _ in pinned_bad.placements[0].stages] == ["b-05", "b-01"]  # the rest: healthy, same domain
    assert active(check(jobs / "TPD231" / "positive.yaml"), "l405-b01") == ["TPD231"]  # b-05 elsewhere in it
    on_b09 = check(jobs / "TPD232" / "positive.yaml")  # b-09's IMEX domain is DEGRADED
    assert active(on_b09, "l405-b09") == ["TPD231", "TPD232"]


def test_a_full_domain_sends_the_next_job_to_healthy_trays_of_the_next(tmp_path: Path) -> None:
    """Rack A holds nine two-tray jobs; the tenth goes to rack B, on healthy members only (never b-05, whose
    fabric is degraded, b-11, not registered, or b-18, another partition), still NVLink."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("deployments:\n" + "".join(
        f"  - {{name: j{k}, engine: vllm, model: llama-3.1-405b, dtype: fp8, tp: 8, nodes: 2, gpu_count: 4}}\n"
        for k in range(12)))
    result = check(jobs)
    stages = {p.deployment.name: [h for h, _ in p.stages] for p in result.placements}
    assert all(h.startswith("a-") for k in range(9) for h in stages[f"j{k}"])
    assert {h for k in range(9, 12) for h in stages[f"j{k}"]} == {"b-01", "b-02", "b-03", "b-04", "b-06", "b-07"}
    facts = {f["name"]: f for f in result.facts}
    assert all(facts[f"j{k}"]["in_nvlink_domain"] is True for k in range(12))
    assert active(result, "j9") == ["TPD231"]  # b-05 is a member of the domain it spans
