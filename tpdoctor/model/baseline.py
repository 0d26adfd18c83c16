"""The baseline as an expectation: a node's own last good (or accepted) snapshot says which GPUs it has and
what their links should have, ahead of the SKU and symmetry (docs/health.md, "The baseline").

GPUs are matched to the baseline by identity (UUID, bus id: `model/identity.py`), never by index, so a node
that lost a GPU and renumbered the rest, or a container that sees two GPUs of eight as GPU0 and GPU1, is
compared board for board. `rebase` re-judges a snapshot's GPU pairs against the baseline's pairs of the same
boards, whatever probe or capture produced the snapshot (live NVML, nvidia-smi, a collect directory, a report
JSON), so `health --baseline` gives the same link health, `nvlinks_expected` and `expected_from: baseline`
that check-deployment and fleet then read from its JSON. `with_lost` names every GPU of the baseline that is
not seen now as missing (by bus id and UUID), unless it lies outside a container's view (`model/view.py`).
`accept` turns a snapshot into a baseline that expects exactly what it shows (`health --accept-baseline`).
"""

from __future__ import annotations

from dataclasses import replace

from tpdoctor.model.health import MissingGpu
from tpdoctor.model.identity import Match, bus_key, match
from tpdoctor.model.links import baseline_expectation, link_health
from tpdoctor.model.topology import Link, LinkHealth, Topology
from tpdoctor.model.view import outside


def rebase(topology: Topology, baseline: Topology, matched: Match | None = None) -> Topology:
    """`topology` with each GPU pair the baseline judged expected at the baseline's count for the same two
    boards.

    Pairs the snapshot never saw stay unknown (a baseline does not fill in a truncated capture); pairs
    the baseline could not judge keep today's inference. A suspect bridge pair (port states not read)
    is settled by the baseline: expected up means down now, expected none means fine."""
    m = matched or match(baseline, topology)
    gpus = {g.label: g for g in topology.gpus}
    links = []
    for lk in topology.links:
        a, b = gpus.get(lk.a), gpus.get(lk.b)
        ba, bb = (m.before_label(lk.a), m.before_label(lk.b)) if lk.is_gpu_pair else (None, None)
        base = baseline_expectation(baseline.link(ba, bb)) if ba and bb else None
        if base is None or a is None or b is None or "unseen" in lk.evidence:
            links.append(lk)
            continue
        evidence = {k: v for k, v in lk.evidence.items() if k != "suspect"}
        evidence["expected_from"] = "baseline"
        if (ba, bb) != (lk.a, lk.b):
            evidence["baseline_pair"] = f"{ba}-{bb}"
        links.append(replace(lk, nvlinks_expected=base, health=link_health(a, b, base, lk.nvlinks),
                             evidence=evidence))
    return replace(topology, links=tuple(links))


def with_lost(topology: Topology, baseline: Topology, matched: Match | None = None) -> Topology:
    """`topology` with every baseline GPU that is not seen now among its missing GPUs (named by bus id, UUID and
    its baseline index); a GPU nvidia-smi already named missing is enriched, not repeated; one outside a
    container's view is a note. GPUs renumbered since the baseline are a note too."""
    m = matched or match(baseline, topology)
    missing = list(topology.missing)
    at = {k: i for i, x in enumerate(missing) if (k := _bus(x.bus_id)) is not None}
    readable = sum(1 for g in topology.gpus if g.status == "ok")
    notes: list[str] = []
    for g in m.gone:
        if g.status != "ok":
            continue
        known = at.get(bus_key(g) or "")
        if known is not None:
            missing[known] = replace(missing[known], uuid=g.uuid, name=g.name, baseline_index=g.index)
        elif outside(topology.view, g.uuid, readable, g.index):
            notes.append(f"baseline {g.label} ({g.pci_bus_id if isinstance(g.pci_bus_id, str) else g.uuid}) is "
                         f"outside this view, not judged")
        else:
            why = topology.driver_message
            reason = (f"nvidia-smi says {why!r}; the baseline had it as {g.label}" if why
                      else f"in the baseline as {g.label}, not listed now")
            missing.append(MissingGpu(bus_id=g.pci_bus_id, reason=reason, source="baseline", uuid=g.uuid,
                                      name=g.name, baseline_index=g.index))
    if m.renumbered:
        moves = ", ".join(f"GPU{now} was GPU{before}" for now, before in sorted(m.renumbered.items()))
        notes.append(f"GPUs renumbered since the baseline (matched by {m.by}): {moves}")
    return replace(topology, missing=tuple(missing), probe_notes=(*topology.probe_notes, *notes))


def _bus(value: object) -> str | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    domain, rest = value.split(":", 1)
    try:
        return f"{int(domain, 16):08X}:{rest.upper()}"
    except ValueError:
        return None


def accept(topology: Topology) -> Topology:
    """A baseline that expects what `topology` shows now: every judged GPU pair at its current NVLinks.

    Pairs whose health is unknown are kept as they are, so they set no expectation later."""
    def accepted(lk: Link) -> Link:
        if not lk.is_gpu_pair or lk.health is LinkHealth.UNKNOWN:
            return lk
        return replace(lk, nvlinks_expected=lk.nvlinks, health=LinkHealth.OK,
                       evidence={**lk.evidence, "expected_from": "accepted"})

    return replace(topology, links=tuple(accepted(lk) for lk in topology.links))
