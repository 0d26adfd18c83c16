"""A node's status from its own contents: the table of docs/health.md ("What a status promises"), used by
the node verdict (node/verdict.py) and by the fleet to re-derive the status a peer's report claims
(fleet/judged.py, from the gaps the report records).

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
from tpdoctor.model.topology import Check, CheckState

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

