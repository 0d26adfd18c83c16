"""A peer's report is judged, not trusted: the status it claims is re-derived from its own contents.

A report is a file another node (or anyone who can write the reports folder) wrote. Its `status` is one
field among many: a node whose rules were switched off, a tool that rewrites reports, or a hostile peer
can say `ok` while listing a down NVLink. Two checks, both from what the report itself holds:

1. its findings and recorded coverage: an active critical finding makes it critical, a check recorded
   as not made (or a rule that could not judge) unknown, a warning warning (model/status.py's table);
2. its topology judged again by the built-in node rules (`judge`, given by the command: node/verdict's
   `report_for`), for the reports that could hide something (claimed ok or warning while a GPU link
   reads down or degraded, or a GPU is not ok): a finding those rules raise that the report does not
   list at all, not even suppressed, is hidden. A site's severities and suppressions stay the node's own:
   only absent findings count.

A report that claims better than either is a `contradiction` (TPD307) and counts as the worse status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tpdoctor.fleet.load import FleetInput, MergeProblem, NodeReport
from tpdoctor.model.findings import Report, Status, status_of
from tpdoctor.model.status import node_status, worse
from tpdoctor.model.topology import Check, CheckState, LinkHealth

Judge = Callable[[NodeReport], Report]  # the node's report as the built-in node rules judge its topology


def judged(fleet: FleetInput, judge: Judge | None = None) -> FleetInput:
    """`fleet` with each node's status re-derived and each contradiction a problem (see the docstring)."""
    nodes: list[NodeReport] = []
    problems = list(fleet.problems)
    for node in fleet.nodes:
        status, why = rederive(node, judge)
        if why:
            claimed = node.report.status.value
            problems.append(MergeProblem(
                "contradiction", node.source, node.host,
                f"report for {node.host!r} says {claimed}, but {'; '.join(why)}: counted as {status.value}"))
            node = replace(node, report=replace(node.report, status=status))
        nodes.append(node)
    return FleetInput(tuple(nodes), tuple(problems))


def _suspect(report: Report) -> bool:
    return report.status in (Status.OK, Status.WARNING) and (
        any(lk.health in (LinkHealth.DOWN, LinkHealth.DEGRADED) for lk in report.topology.gpu_links())
        or any(g.status != "ok" for g in report.topology.gpus))


def rederive(node: NodeReport, judge: Judge | None) -> tuple[Status, list[str]]:
    """The status the report's contents support (never better than it claims) and why it differs."""
    report = node.report
    status, why = report.status, []
    gaps = [c for c in report.topology.coverage if c.state is CheckState.NOT_MADE]  # as recorded, not recomputed
    if any(not f.judged and not f.suppressed for f in report.findings):  # a rule that could not judge
        gaps.append(Check("rules", CheckState.NOT_MADE, "rule verdicts"))
    listed = node_status(report.findings, gaps)  # model/status.py's table
    if worse(listed, status) is not status:
        why.append(f"its own findings and recorded gaps make it {listed.value}")
        status = listed
    if judge is not None and _suspect(report):
        have = {(f.rule, f.subject) for f in report.findings}
        hidden = [f for f in judge(node).findings if f.active and (f.rule, f.subject) not in have]
        if hidden:
            more = f" (+{len(hidden) - 1} more)" if len(hidden) > 1 else ""
            why.append(f"it lists no {hidden[0].rule} finding for {hidden[0].subject} although its own "
                       f"topology shows it ({hidden[0].message}){more}")
            status = worse(status, status_of(hidden))
    return status, why
