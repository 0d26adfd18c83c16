"""One harness for every per-rule case folder: tests/rules/<ID>/<positive|negative>*.yaml.

A case names a topology scenario (tests/topologies.py), optionally a baseline scenario and benchmark
results, and the subjects the rule must report, in order (empty for a negative case).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.topologies import scenario
from tpdoctor.engine.evaluate import Engine
from tpdoctor.engine.schema import validate
from tpdoctor.model.bench import BenchResult
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.report.catalogue import load_catalogue

CASES = Path(__file__).parent / "rules"
NODE_RULES = {r.id for r in load_catalogue() if r.scope == "node"}  # deployment cases: test_deployment_rule_cases.py
CASE_FILES = sorted(p for p in CASES.glob("*/*.yaml") if p.parent.name in NODE_RULES)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_catalogue(), NODE_SCHEMA)


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_rule_case(case: Path, engine: Engine) -> None:
    spec = yaml.safe_load(case.read_text())
    rule_id = case.parent.name
    topology = scenario(spec["topology"])
    baseline = scenario(spec["baseline"]) if spec.get("baseline") else None
    bench = tuple(BenchResult(**{**b, "group": tuple(b["group"])}) for b in spec.get("bench", []))
    facts = node_facts(topology, bench, baseline)
    validate(NODE_SCHEMA, facts)
    evaluation = engine.evaluate(facts)
    got = [f.subject for f in evaluation.findings if f.rule == rule_id]
    assert got == spec["expect"], [f.message for f in evaluation.findings]
    assert not [f for f in evaluation.findings if f.evidence.get("judged") is False], "nothing left unjudged"
    if case.stem.startswith("positive"):
        first = next(f for f in evaluation.findings if f.rule == rule_id)
        assert first.message and first.recommendation
        assert "unknown" not in first.message, first.message
