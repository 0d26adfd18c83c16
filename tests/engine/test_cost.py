"""Rule conditions cannot make an evaluation unbounded: CEL's iteration budget, the per-rule time budget,
the length of a condition, and a template's format width."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.topologies import nvl72
from tpdoctor.engine.cel import CelEvalError, Program
from tpdoctor.engine.evaluate import Engine
from tpdoctor.engine.templates import TemplateError, parse
from tpdoctor.model.errors import RuleLoadError
from tpdoctor.model.findings import Severity
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.report.catalogue import load_catalogue

RULE = """\
id: SITE900
name: costly
scope: node
each: link
severity: warning
summary: A site rule with a costly condition.
when: "{when}"
message: "{{link.id}} costly"
recommendation: Simplify it.
docs: {{why: w, verify: v, remediation: Fix it., references: []}}
"""


def site_rule(tmp_path: Path, when: str) -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "SITE900.yaml").write_text(RULE.format(when=when))
    return site


def literal(n: int) -> str:
    return "[" + ",".join(str(i) for i in range(n)) + "]"


def test_nested_comprehensions_stop_at_the_iteration_budget() -> None:
    program = Program("xs.all(a, xs.all(b, xs.all(c, a + b + c >= 0)))", ["xs"])
    assert program.execute({"xs": list(range(10))}) is True  # 1,110 steps
    with pytest.raises(CelEvalError, match="iteration budget"):
        program.execute({"xs": list(range(40))})  # 65,640 steps: refused, not computed


def test_a_condition_over_the_budget_on_sample_facts_is_refused_at_load(tmp_path: Path) -> None:
    xs = literal(40)
    site = site_rule(tmp_path, f"{xs}.all(a, {xs}.all(b, {xs}.all(c, {xs}.all(d, a + b + c + d >= 0))))")
    with pytest.raises(RuleLoadError, match=r"SITE900.yaml:7: when: fails on well-typed facts: exceeded CEL's "
                                            r"iteration budget"):
        load_catalogue([site], ["node"])


def test_a_condition_over_the_budget_on_real_facts_is_not_judged(tmp_path: Path) -> None:
    # sample facts have empty lists, so this loads; the real node's notes make it too costly to judge
    notes = "(node.probe_notes)"  # parenthesised: the fact analysis reads `node.probe_notes.all` as a path
    site = site_rule(tmp_path, f"{notes}.all(a, {notes}.all(b, {notes}.all(c, a != '' || b != '' || c != '')))")
    rules = [r for r in load_catalogue([site], ["node"]) if r.id == "SITE900"]
    topology = nvl72()
    topology = replace(topology, probe_notes=tuple(f"note {i}" for i in range(30)))
    result = Engine(rules, NODE_SCHEMA).evaluate(node_facts(topology))
    assert result.findings and all(not f.judged and f.severity is Severity.INFO for f in result.findings)
    assert "iteration budget" in result.findings[0].message


def fake_clock(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


def test_a_rule_past_its_time_budget_stops_and_says_so_for_every_subject_left(tmp_path: Path) -> None:
    site = site_rule(tmp_path, "link.a != link.b")
    rules = [r for r in load_catalogue([site], ["node"]) if r.id == "SITE900"]
    facts = node_facts(nvl72())
    links = len(facts.subjects["link"])
    ticks = fake_clock(0.5)  # every evaluation "takes" 0.5 s
    engine = Engine(rules, NODE_SCHEMA, budget_seconds=2.0, clock=lambda: next(ticks))
    result = engine.evaluate(facts)
    judged = [f for f in result.findings if f.judged]
    stopped = [f for f in result.findings if not f.judged]
    assert len(judged) == 5  # 0.5, 1.0, 1.5, 2.0 s spent: not past the budget; the fifth passes it
    assert len(judged) + len(stopped) == links and result.evaluations == 5
    assert all("2 s evaluation budget" in f.message and f.severity is Severity.INFO for f in stopped)
    assert stopped[0].evidence == {"judged": False, "error": "evaluation budget exceeded"}


def test_the_built_in_rules_stay_far_inside_the_budget() -> None:
    facts = node_facts(nvl72())  # 72 GPUs, 2,556 links
    engine = Engine(load_catalogue((), ["node"]), NODE_SCHEMA)
    assert engine.evaluate(facts).not_judged == 0


def test_an_overlong_condition_is_refused_at_load(tmp_path: Path) -> None:
    site = site_rule(tmp_path, " || ".join(["link.a != link.b"] * 300))
    with pytest.raises(RuleLoadError, match=r"when: is 5,\d{3} characters long \(at most 4,000\)"):
        load_catalogue([site], ["node"])


@pytest.mark.parametrize("spec", ["999999999", ">999999999.2f", ".999999999f", "65", "0065"])
def test_a_huge_format_width_or_precision_is_refused(spec: str) -> None:
    with pytest.raises(TemplateError, match="too (wide|long)"):
        parse("{link.id:" + spec + "}")


def test_format_widths_a_message_can_use_still_render() -> None:
    assert parse("[{x:>8}] {y:.3f}").render({"x": "GPU0", "y": 1.5}) == "[    GPU0] 1.500"
