"""The fleet scope's facts: what fleet rules (TPD3xx) see about the node reports a merge was given.

One `input` subject per problem found while merging (`tpdoctor/fleet/load.py`): a report that cannot be
read, a stale one, or two different nodes claiming one hostname; one `domain` subject per multi-node
NVLink domain the reports form (`fleet/domains.py`). Rules decide severity and wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tpdoctor.engine.schema import Fact, ScopeFacts, ScopeSchema, SubjectSchema
from tpdoctor.fleet.domains import DOMAIN, NvlinkDomain, domain_subjects
from tpdoctor.fleet.load import MergeProblem

INPUT = SubjectSchema("input", "One problem with the merge's input reports. `id` is the host, else the file.", {
    "kind": Fact("string", "unreadable, stale, duplicate-host, clock-skew (dated in the future) or contradiction "
                                  "(claims a better status than its own contents)."),
    "source": Fact("string", "The report file(s) concerned."),
    "host": Fact("string", "The host the report(s) claim; null when the file could not be read.", True),
    "detail": Fact("string", "What is wrong, in one line (file:line and reason, age and limit, the files)."),
})

FLEET_SCHEMA = ScopeSchema("fleet", "Inputs of `tpdoctor fleet` and fleet-wide checks: problems with the node "
                           "reports, and the multi-node NVLink domains they form.", {"input": INPUT, "domain": DOMAIN})


def input_subject(problem: MergeProblem) -> dict[str, Any]:
    return {"id": problem.host or problem.source, "unknown": {}, "kind": problem.kind,
            "source": problem.source, "host": problem.host, "detail": problem.message}


def fleet_facts(problems: Sequence[MergeProblem], domains: Sequence[NvlinkDomain] = ()) -> ScopeFacts:
    return ScopeFacts("fleet", {"input": [input_subject(p) for p in problems], "domain": domain_subjects(domains)})
