"""Judge a Topology into a Report: the one seam the rules engine plugs into (scan, demo, health).

The node rules (rules/node/, TPD1xx) decide; the status is the worst active finding.
"""

from __future__ import annotations

from collections.abc import Sequence

from tpdoctor.engine.loader import Rule
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.findings import Report, Status, status_of
from tpdoctor.model.topology import LinkHealth, Topology


def link_status(topology: Topology) -> Status:
    """Status from link health alone (no rules): down is critical, degraded a warning."""
    healths = {link.health for link in topology.gpu_links()}
    if LinkHealth.DOWN in healths:
        return Status.CRITICAL
    if LinkHealth.DEGRADED in healths:
        return Status.WARNING
    return Status.OK


def report_for(topology: Topology, bench: tuple[BenchResult, ...] = (), *, rules: Sequence[Rule] | None = None,
               baseline: Topology | None = None) -> Report:
    """Evaluate the node rules (built-in unless `rules` is given) on one snapshot."""
    from tpdoctor.engine.evaluate import Engine
    from tpdoctor.engine.loader import load_rules
    from tpdoctor.node.facts import node_facts

    engine = Engine(load_rules(scopes=("node",)) if rules is None else rules, "node")
    findings = engine.evaluate(node_facts(topology, bench, baseline)).findings
    return Report(topology=topology, bench=bench, findings=findings, status=status_of(findings))
