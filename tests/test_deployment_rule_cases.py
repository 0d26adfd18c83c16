"""Deployment rules' case folders (tests/rules/TPD2xx/{positive,negative}.yaml): each case is a job.yaml whose
first line names the topology; walked here (node rules have their own harness in test_rule_cases.py)."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import pytest

from tests.topologies import SCENARIOS, scenario
from tpdoctor.deploy.check import check, read_manifests
from tpdoctor.model.topology import Topology
from tpdoctor.probes import replay
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "rules"
CASES = sorted(p for p in HERE.glob("TPD2*/*.yaml")
               if not p.parent.name.startswith("TPD24"))  # TPD240-249, running scope: test_running_rule_cases.py


@cache
def topology(name: str) -> Topology:
    """`example`, a snapshot in fixtures/topologies/, or a named scenario of tests/topologies.py."""
    if name == "example":
        return replay.load(replay.example_path())
    if name in SCENARIOS:
        return scenario(name)
    return replay.load(ROOT / "fixtures" / "topologies" / name)


@lru_cache(maxsize=1)
def rules():  # type: ignore[no-untyped-def]
    return load_catalogue()


def is_fleet(case: Path) -> bool:
    return case.read_text(encoding="utf-8").startswith("# fleet:")


def run(case: Path):  # type: ignore[no-untyped-def]
    """`# topology: NAME` checks the case on one node; `# fleet: DIR` checks it across the node reports in DIR
    (check-deployment --fleet)."""
    header = case.read_text(encoding="utf-8").splitlines()[0]
    if header.startswith("# fleet:"):
        from tpdoctor.fleet.cluster import check_fleet
        from tpdoctor.fleet.load import load_fleet

        return check_fleet(read_manifests([case]), load_fleet([ROOT / header.split(":", 1)[1].strip()]), rules())
    assert header.startswith("# topology:"), f"{case}: first line must name the topology (or the fleet)"
    return check(read_manifests([case]), topology(header.split(":", 1)[1].strip()), rules())


def active(result, rule_id: str) -> list:  # type: ignore[no-untyped-def]
    findings = result.findings if hasattr(result, "placements") else result.report.findings
    return [f for f in findings if f.rule == rule_id and not f.suppressed and f.evidence.get("judged") is not False]


def test_every_deployment_rule_has_both_cases() -> None:
    ids = {r.id for r in rules() if r.scope == "deployment"}
    for rid in ids:
        assert (HERE / rid / "positive.yaml").is_file(), rid
        assert (HERE / rid / "negative.yaml").is_file(), rid


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_case(case: Path) -> None:
    rid = case.parent.name
    result = run(case)
    hits = active(result, rid)
    if case.stem == "positive":
        assert hits, f"{rid} should fire on {case}: {[f.rule for f in result.report.findings]}"
        for f in hits:
            assert f.message and "unknown" not in f.message, f.message
            assert f.recommendation.endswith("."), f.recommendation
    else:
        assert not hits, f"{rid} should not fire on {case}: {[f.message for f in hits]}"


NOT_AUTO_FIXABLE = {"TPD201": "TP over PCIe stays when it is predicted the best option (TP=2 under one switch "
                               "serves more tokens/s than two TP=1 replicas)",
                    "TPD202": "advice only (info)", "TPD205": "needs more GPUs than the node has",
                    "TPD212": "hardware: the NICs sit where they sit", "TPD220": "hardware: the links need repair",
                    "TPD221": "TP across nodes is predicted best: nothing to rewrite",
                    "TPD213": "the concurrency asked is the user's to lower; --fix says so",
                    "TPD215": "more KV memory or a shorter length is the user's choice; --fix says so",
                    "TPD250": "which checkpoint to serve (or dropping the flag) is the user's choice",
                    "TPD251": "another checkpoint, engine or GPU generation is the user's choice",
                    "TPD217": "which node to judge it on, or which GPU to ask for, is the user's choice"}
# advice that lapses when --fix moves the group to healthy NVLink, where TP then beats TP=1 replicas
LAPSES_AFTER_FIX = {"TPD202"}


@pytest.mark.parametrize("case", [c for c in CASES if c.stem == "positive" and not is_fleet(c)],
                         ids=lambda p: p.parent.name)
def test_fix_removes_the_finding(case: Path, tmp_path: Path) -> None:
    from tpdoctor.deploy.fix import fix_text
    from tpdoctor.manifests.loader import read_text

    rid = case.parent.name
    header = case.read_text(encoding="utf-8").splitlines()[0]
    topo = topology(header.split(":", 1)[1].strip())
    before = run(case)
    text, changes, problems = fix_text(case.read_text(encoding="utf-8"), before.assessments, topo)
    after = check(read_text(text, str(tmp_path / case.name)), topo, rules())
    if rid in NOT_AUTO_FIXABLE:
        assert active(after, rid) or (rid in LAPSES_AFTER_FIX and changes and not problems), NOT_AUTO_FIXABLE[rid]
        return
    assert changes and not problems, (changes, problems)
    assert not active(after, rid), [f.message for f in after.report.findings]
    fleet_only = all("--fleet" in (q.answer_with or "") for q in after.questions if q.open)  # multi-node
    assert (after.report.status.value in ("ok", "warning") or fleet_only) and not [
        f for f in after.report.findings if f.severity.value != "info" and not f.suppressed
        and f.rule not in KEPT_AFTER_FIX], text


# what may remain after a fix: the rewrite keeps TP on PCIe where the cost model predicts it best (TPD201)
KEPT_AFTER_FIX = {"TPD201"}
