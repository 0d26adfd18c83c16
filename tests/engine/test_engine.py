"""Engine behaviour: unknown facts, suppression, severity overrides, shared evaluations, bad facts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.topologies import h100_nvl_4gpu, nvl72, scenario
from tpdoctor.engine.evaluate import Engine, Options, evaluate
from tpdoctor.engine.schema import FactError, ScopeFacts, validate
from tpdoctor.model.findings import Severity
from tpdoctor.model.unknown import Unknown
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.report.catalogue import load_catalogue

RULES = load_catalogue()


def test_unknown_fact_is_not_judged_not_guessed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "SITE200.yaml").write_text("""\
id: SITE200
name: p2p-strict
scope: node
each: link
severity: warning
summary: P2P must be OK (this rule does not guard against unknown).
when: link.p2p != "OK" && link.nvlinks < 100
message: "{link.id} p2p {link.p2p}"
recommendation: Check it.
docs: {why: w, verify: v, remediation: Fix it., references: []}
""")
    topo = h100_nvl_4gpu()
    topo = replace(topo, links=tuple(replace(lk, p2p=Unknown("NVML P2P status not supported"))
                                     if (lk.a, lk.b) == ("GPU0", "GPU2") else lk for lk in topo.links))
    rules = load_catalogue([site])
    result = evaluate(rules, NODE_SCHEMA, node_facts(topo))
    site_findings = [f for f in result.findings if f.rule == "SITE200"]
    assert len(site_findings) == 1 and result.not_judged == 1
    f = site_findings[0]
    assert f.severity is Severity.INFO and f.subject == "GPU0-GPU2"
    assert f.evidence == {"judged": False, "unknown": {"p2p": "NVML P2P status not supported"}}
    assert "could not judge" in f.message
    # The built-in TPD104 asks `has(link.p2p)`: it decides "no finding" itself.
    assert not [x for x in result.findings if x.rule == "TPD104"]


def test_ignore_keeps_the_finding_as_suppressed_with_reason() -> None:
    opts = Options(ignore={"TPD100": "bridge on order, ticket 42"})
    result = evaluate(RULES, NODE_SCHEMA, node_facts(scenario("h100-nvl-gpu01-down")), opts)
    (f,) = [x for x in result.findings if x.rule == "TPD100"]
    assert f.suppressed and f.suppressed_reason == "bridge on order, ticket 42"
    assert result.findings[-1] is f  # suppressed findings sort last


def test_severity_override() -> None:
    opts = Options(severity={"TPD103": Severity.CRITICAL})
    result = evaluate(RULES, NODE_SCHEMA, node_facts(scenario("h100-nvl-gpu3-x8")), opts)
    assert [(f.rule, f.severity) for f in result.findings] == [("TPD103", Severity.CRITICAL)]


def test_findings_sorted_worst_first() -> None:
    topo = h100_nvl_4gpu(down=[(2, 3)], nvlink_errors={0: {1: 5000}})
    result = evaluate(RULES, NODE_SCHEMA, node_facts(topo))
    assert [f.rule for f in result.findings] == ["TPD100", "TPD102"]


def test_equal_subjects_share_one_evaluation() -> None:
    engine = Engine(RULES, NODE_SCHEMA)
    result = engine.evaluate(node_facts(nvl72()))
    assert result.subjects > 2556 * 3  # every link judged by the three link rules
    assert result.evaluations <= len(RULES)  # ...but identical healthy subjects asked CEL once per rule
    assert result.findings == ()


def test_shared_evaluation_still_sees_each_fault() -> None:
    topo = nvl72(lost_ports={40: 6, 41: 18})
    result = Engine(RULES, NODE_SCHEMA).evaluate(node_facts(topo))
    assert {f.subject for f in result.findings if f.rule == "TPD101"} == {
        f"GPU{min(i, 40)}-GPU{max(i, 40)}" for i in range(72) if i not in (40, 41)}
    # GPU41 lost every link: one GPU finding, its 71 down pairs folded under it
    assert [f.subject for f in result.findings if f.rule == "TPD111"] == ["GPU41"]
    assert not [f for f in result.findings if f.rule == "TPD100"]


def test_bad_facts_are_named_precisely() -> None:
    facts = node_facts(h100_nvl_4gpu())
    link = dict(facts.subjects["link"][0], nvlinks="12")
    broken = ScopeFacts("node", {**facts.subjects, "link": [link]})
    with pytest.raises(FactError, match=r"link GPU0-GPU1: nvlinks should be int, got str '12'"):
        validate(NODE_SCHEMA, broken)
    extra = ScopeFacts("node", {**facts.subjects, "link": [dict(link, nvlinks=12, colour="red")]})
    with pytest.raises(FactError, match="undocumented fact 'colour'"):
        validate(NODE_SCHEMA, extra)
    missing = {k: v for k, v in facts.subjects["gpu"][0].items() if k != "pcie_width_max"}
    with pytest.raises(FactError, match="GPU0: missing fact 'pcie_width_max'"):
        validate(NODE_SCHEMA, ScopeFacts("node", {**facts.subjects, "gpu": [missing]}))
    with pytest.raises(FactError, match="exactly one subject"):
        validate(NODE_SCHEMA, ScopeFacts("node", {**facts.subjects, "node": []}))


def test_every_scenario_has_schema_valid_facts() -> None:
    from tests.topologies import SCENARIOS

    for name in SCENARIOS:
        validate(NODE_SCHEMA, node_facts(scenario(name), baseline=scenario("h100-nvl-healthy")))


def test_template_renders_unknown_and_format_specs() -> None:
    from tpdoctor.engine.templates import parse

    t = parse("{bench.busbw_gbps:.1f} of {bench.busbw_expected_gbps:.0f} ({bench.busbw_ratio:.0%}) {{x}}")
    ctx = {"bench": {"busbw_gbps": 48.04, "busbw_expected_gbps": 116.0, "busbw_ratio": 0.414}}
    assert t.render(ctx) == "48.0 of 116 (41%) {x}"
    assert parse("{link.p2p}").render({"link": {"p2p": None}}) == "unknown"


def test_cel_errors_are_errors_not_verdicts() -> None:
    """An absent fact or a bad overload raises CelEvalError; `has()` and `&&` short-circuits behave as CEL says."""
    from tpdoctor.engine.cel import CelCompileError, CelEvalError, Program

    p = Program("link.nvlinks < link.nvlinks_expected", ["link"])
    assert p.execute({"link": {"nvlinks": 0, "nvlinks_expected": 12}}) is True
    with pytest.raises(CelEvalError, match="nvlinks_expected"):
        p.execute({"link": {"nvlinks": 0}})
    guarded = Program("has(link.p2p) && link.p2p != 'OK'", ["link"])
    assert guarded.execute({"link": {}}) is False
    with pytest.raises(CelCompileError) as info:
        Program("gpu.index > 1", ["link"])
    assert info.value.undeclared == "gpu"
