"""Judge a Topology into a Report: the one seam the node rules plug into (scan, demo, health).

The node rules (rules/node/, TPD1xx) decide; the status is the worst active finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tpdoctor.engine.evaluate import Engine
from tpdoctor.engine.loader import load_rules
from tpdoctor.engine.rule import Rule
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.findings import Report, status_of
from tpdoctor.model.topology import Topology
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.node.read import read_node


def report_for(topology: Topology, bench: tuple[BenchResult, ...] = (), *, rules: Sequence[Rule] | None = None,
               baseline: Topology | None = None) -> Report:
    """Evaluate the node rules (built-in unless `rules` is given) on one snapshot."""
    engine = Engine(load_rules([NODE_SCHEMA]) if rules is None else rules, NODE_SCHEMA)
    findings = engine.evaluate(node_facts(topology, bench, baseline)).findings
    return Report(topology=topology, bench=bench, findings=findings, status=status_of(findings))


def scan(from_path: str | Path | None, probe: str = "auto", timeout_seconds: float | None = None, *,
         bench: bool = False) -> Report:
    """`tpdoctor scan`: read the node (a capture, or this machine; optionally a short pairwise all-reduce)
    and judge it with the built-in node rules."""
    node = read_node(from_path, probe, timeout_seconds, bench=bench)
    return report_for(node.topology, bench=node.bench)
