"""Judge a Topology into a Report: the one seam the node rules plug into (scan, demo, health, bench).

The node rules (rules/node/, TPD1xx) decide; the status combines what they found with what could not be
checked, so that `ok` is a promise (docs/health.md, "What a status promises"; the table is
model/status.py's, which the fleet also uses to re-derive a peer's claimed status).

A known fault outranks a gap in the evidence (a node with an NVLink down is broken whatever else could
not be read); a gap outranks a warning, because a partial reading could be hiding a worse fault and a
cron job or systemd unit that lets warnings pass must not let a half-read node pass with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tpdoctor.engine.evaluate import Engine
from tpdoctor.engine.loader import load_rules
from tpdoctor.engine.rule import Rule
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.coverage import with_coverage
from tpdoctor.model.findings import Report, Severity, Status, apply_fail_on
from tpdoctor.model.status import node_status, unknown_parts
from tpdoctor.model.topology import Topology
from tpdoctor.node.facts import NODE_SCHEMA, node_facts
from tpdoctor.node.read import read_node


def decide(report: Report, fail_on: Severity = Severity.WARNING) -> tuple[Status, Status]:
    """(status before --fail-on, status after it): `--fail-on critical` lets warnings pass, never gaps."""
    gaps = unknown_parts(report)
    raw = node_status(report.findings, gaps)
    return raw, (raw if raw is not Status.WARNING else apply_fail_on(raw, fail_on))


def report_for(topology: Topology, bench: tuple[BenchResult, ...] = (), *, rules: Sequence[Rule] | None = None,
               baseline: Topology | None = None) -> Report:
    """Evaluate the node rules (built-in unless `rules` is given) on one snapshot; the report's topology
    carries its coverage record and the status follows the table above."""
    engine = Engine(load_rules([NODE_SCHEMA]) if rules is None else rules, NODE_SCHEMA)
    topology = with_coverage(topology)
    findings = engine.evaluate(node_facts(topology, bench, baseline)).findings
    report = Report(topology=topology, bench=bench, findings=findings)
    return replace(report, status=decide(report)[0])


def scan(from_path: str | Path | None, probe: str = "auto", timeout_seconds: float | None = None, *,
         bench: bool = False) -> Report:
    """`tpdoctor scan`: read the node (a capture, or this machine; optionally a short pairwise all-reduce)
    and judge it with the built-in node rules."""
    node = read_node(from_path, probe, timeout_seconds, bench=bench)
    return report_for(node.topology, bench=node.bench)
