"""A node's status from its own contents: the table of docs/health.md ("What a status promises"), used by
the node verdict (node/verdict.py) and by the fleet to re-derive the status a peer's report claims.

| active findings | every check made | status |
|---|---|---|
| a critical | any | critical |
| warnings or none | no (evidence missing, or a rule could not judge) | unknown |
| a warning | yes | warning |
| none | yes | ok |
"""

from __future__ import annotations

from collections.abc import Sequence

from tpdoctor.model.coverage import not_made
from tpdoctor.model.findings import Finding, Report, Status, status_of
from tpdoctor.model.topology import Check, CheckState, LinkHealth

ORDER = (Status.OK, Status.WARNING, Status.UNKNOWN, Status.CRITICAL)  # worse to the right


def unknown_parts(report: Report) -> tuple[Check, ...]:
    """What the verdict could not check: coverage gaps, then rules that could not judge a subject."""
    gaps = list(not_made(report.topology))
    unjudged = [f for f in report.findings if not f.judged and not f.suppressed]
    if unjudged:
        rules = sorted({f.rule for f in unjudged})
        gaps.append(Check("rules", CheckState.NOT_MADE, "rule verdicts",
                          reason=f"{', '.join(rules)} could not judge {len(unjudged)} subject(s): "
                                 f"{unjudged[0].message}",
                          subjects=tuple(f"{f.rule} {f.subject}" for f in unjudged)))
    return tuple(gaps)


def node_status(findings: Sequence[Finding], gaps: Sequence[Check]) -> Status:
    """critical > unknown > warning > ok (the table above)."""
    found = status_of(tuple(findings))
    if found is Status.CRITICAL:
        return found
    return Status.UNKNOWN if gaps else found


def worse(a: Status, b: Status) -> Status:
    return a if ORDER.index(a) >= ORDER.index(b) else b


def rederive(report: Report) -> tuple[Status, tuple[str, ...]]:
    """The status a report's own contents support, and what its claimed `status` leaves out: a broken
    GPU link that no finding (active or suppressed) names, whose default verdict is TPD100 critical for a
    down link and TPD101 warning for a degraded one, counts as that finding would."""
    named = {f.subject for f in report.findings}
    silent: list[str] = []
    status = node_status(report.findings, unknown_parts(report))
    for link in report.topology.gpu_links():
        if link.health not in (LinkHealth.DOWN, LinkHealth.DEGRADED) or {f"{link.a}-{link.b}",
                                                                           f"{link.b}-{link.a}"} & named:
            continue
        silent.append(f"{link.a}-{link.b} NVLink {link.health.value}")
        status = worse(status, Status.CRITICAL if link.health is LinkHealth.DOWN else Status.WARNING)
    return status, tuple(silent)
