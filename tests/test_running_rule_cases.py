"""Running-group rules' case folders (tests/rules/TPD24x/{positive,negative}.yaml): each case is the compute-
process table and the processes /proc showed on a named topology; judged as `health` judges them."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from tests.test_deployment_rule_cases import topology
from tpdoctor.model.codec import from_data
from tpdoctor.model.running import ComputeProcess, Process, Running
from tpdoctor.model.topology import Topology
from tpdoctor.report.catalogue import load_catalogue
from tpdoctor.running.judge import judge

HERE = Path(__file__).resolve().parent / "rules"


@lru_cache(maxsize=1)
def rules():  # type: ignore[no-untyped-def]
    return load_catalogue()


RUNNING_RULES = sorted(r.id for r in rules() if r.scope == "running")
CASES = sorted(p for rid in RUNNING_RULES for p in (HERE / rid).glob("*.yaml"))


def case_topology(spec: dict) -> Topology:  # type: ignore[type-arg]
    running = Running(source="nvml", table=tuple(from_data(tuple[ComputeProcess, ...], spec["table"])),
                      processes=tuple(from_data(tuple[Process, ...], spec["processes"])))
    return replace(topology(spec["topology"]), running=running)


def test_every_running_rule_has_both_cases() -> None:
    for rid in RUNNING_RULES:
        assert (HERE / rid / "positive.yaml").is_file(), rid
        assert (HERE / rid / "negative.yaml").is_file(), rid


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_case(case: Path) -> None:
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    judged = judge(case_topology(spec), rules())
    hits = [f for f in judged.findings if f.rule == case.parent.name and f.active]
    assert [f.subject for f in hits] == spec["expect"], [(f.rule, f.subject, f.message) for f in judged.findings]
    for f in hits:
        assert f.message and "unknown" not in f.message and "None" not in f.message, f.message
        assert f.recommendation.endswith("."), f.recommendation
