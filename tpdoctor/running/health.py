"""The running groups in a health run and a scan: judged after the node, apart from its baseline.

The node is judged without its processes (`node/health.py`: the baseline is about links, and a process
tpdoctor cannot see must not stop a clean node's baseline from being written); then the groups are judged
on the same topology and put in front of the node's findings, and the status is decided over both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tpdoctor.model.findings import Report, Severity
from tpdoctor.model.running import Running

if TYPE_CHECKING:
    from tpdoctor.engine.evaluate import Options
    from tpdoctor.engine.rule import Rule
    from tpdoctor.node.health import HealthOutcome

GROUP_SCOPES = ("deployment", "running")  # the rules a running group is judged by (loaded only when needed)


def split(load: Callable[[], Report], into: dict[str, Running | None]) -> Callable[[], Report]:
    """A node loader that hands the node on without its processes and keeps them in `into["running"]`."""
    def loader() -> Report:
        node = load()
        into["running"] = node.topology.running
        return replace(node, topology=replace(node.topology, running=None))
    return loader


def with_groups(outcome: HealthOutcome, running: Running | None, rules: Sequence[Rule], *,
                options: Options | None = None, fail_on: Severity = Severity.WARNING) -> HealthOutcome:
    """The outcome with the running groups judged into it (unchanged when discovery did not run)."""
    from tpdoctor.node.verdict import decide
    from tpdoctor.running.judge import combine, judge

    report = outcome.report
    if report is None or running is None:
        return outcome
    topology = replace(report.topology, running=running)
    judged = judge(topology, rules, options=options, bench=report.bench)
    combined = combine(replace(report, topology=topology), judged)
    raw, status = decide(combined, fail_on)
    return replace(outcome, report=replace(combined, status=raw), raw_status=raw, status=status)


def scan_report(report: Report, rules: Sequence[Rule], options: Options | None = None) -> Report:
    """A judged node report (`node.verdict.scan`) with its running groups judged into it."""
    if report.topology.running is None:
        return report
    from tpdoctor.running.judge import combine, judge

    return combine(report, judge(report.topology, rules, options=options, bench=report.bench))
