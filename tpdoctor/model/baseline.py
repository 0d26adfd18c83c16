"""The baseline as an expectation: a node's own last good (or accepted) snapshot says what its links
should have, ahead of the SKU and symmetry (docs/health.md, "The baseline").

`rebase` re-judges a snapshot's GPU pairs against a baseline, whatever probe or capture produced the
snapshot (live NVML, nvidia-smi, a collect directory, a report JSON), so `health --baseline` gives the
same link health, `nvlinks_expected` and `expected_from: baseline` that check-deployment and fleet then
read from its JSON. `accept` turns a snapshot into a baseline that expects exactly what it shows (the
operator's "this node is meant to be like this", `health --accept-baseline`).
"""

from __future__ import annotations

from dataclasses import replace

from tpdoctor.model.links import baseline_expectation, link_health
from tpdoctor.model.topology import Link, LinkHealth, Topology


def rebase(topology: Topology, baseline: Topology) -> Topology:
    """`topology` with each GPU pair the baseline judged expected at the baseline's count.

    Pairs the snapshot never saw stay unknown (a baseline does not fill in a truncated capture); pairs
    the baseline could not judge keep today's inference. A suspect bridge pair (port states not read)
    is settled by the baseline: expected up means down now, expected none means fine."""
    gpus = {g.label: g for g in topology.gpus}
    links = []
    for lk in topology.links:
        base = baseline_expectation(baseline.link(lk.a, lk.b)) if lk.is_gpu_pair else None
        a, b = gpus.get(lk.a), gpus.get(lk.b)
        if base is None or a is None or b is None or "unseen" in lk.evidence:
            links.append(lk)
            continue
        evidence = {k: v for k, v in lk.evidence.items() if k != "suspect"}
        evidence["expected_from"] = "baseline"
        links.append(replace(lk, nvlinks_expected=base, health=link_health(a, b, base, lk.nvlinks),
                             evidence=evidence))
    return replace(topology, links=tuple(links))


def accept(topology: Topology) -> Topology:
    """A baseline that expects what `topology` shows now: every judged GPU pair at its current NVLinks.

    Pairs whose health is unknown are kept as they are, so they set no expectation later."""
    def accepted(lk: Link) -> Link:
        if not lk.is_gpu_pair or lk.health is LinkHealth.UNKNOWN:
            return lk
        return replace(lk, nvlinks_expected=lk.nvlinks, health=LinkHealth.OK,
                       evidence={**lk.evidence, "expected_from": "accepted"})

    return replace(topology, links=tuple(accepted(lk) for lk in topology.links))
