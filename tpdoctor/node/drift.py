"""Drift: how a node differs from its own last good snapshot (the baseline). Pure comparison, board for board:
GPUs are matched by identity (UUID, bus id; `model/identity.py`), so a renumbered node compares the right
boards. A baseline GPU not seen now is not drift but a missing GPU (`Topology.missing`, TPD130)."""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.model.identity import Match, match
from tpdoctor.model.topology import Gpu, Topology


@dataclass(frozen=True)
class DriftItem:
    ident: str  # the finding's subject: "GPU3", "GPU0-GPU1", "GPU2 NVLink errors"
    what: str  # gpu_gone | gpu_added | gpu_changed | nvlinks_dropped | path_changed | p2p_changed | errors_rising
    before: str | None
    after: str | None
    detail: str


def error_sums(g: Gpu) -> dict[str, int | None]:
    """Sums of NVLink DL counters over the GPU's ports; a sum is None when no port could be read."""
    sums: dict[str, int | None] = {}
    for name, attrs in (("replay", ("replay",)), ("recovery", ("recovery",)), ("crc", ("crc_flit", "crc_data"))):
        values = [getattr(p.errors, a) for p in g.nvlinks for a in attrs]
        known = [v for v in values if isinstance(v, int)]
        sums[name] = sum(known) if known else None
    present = [v for v in sums.values() if v is not None]
    sums["total"] = sum(present) if present else None
    return sums


def _was(label: str, before: str | None) -> str:
    return label if before in (None, label) else f"{label} (was {before})"


def drift_items(baseline: Topology, now: Topology, matched: Match | None = None) -> list[DriftItem]:
    """Every difference that matters between `baseline` and `now`, in a stable order."""
    m = matched or match(baseline, now)
    items: list[DriftItem] = []
    before = {g.index: g for g in baseline.gpus}
    for g in m.added:
        items.append(DriftItem(g.label, "gpu_added", None, g.name, f"{g.label} ({g.name}) is new"))
    for a in now.gpus:
        i = m.now_to_before.get(a.index)
        if i is None:
            continue
        b = before[i]
        if b.uuid != a.uuid and isinstance(b.uuid, str) and isinstance(a.uuid, str):  # same slot, another board
            items.append(DriftItem(a.label, "gpu_changed", b.uuid, a.uuid,
                                   f"{_was(a.label, b.label)} at {a.pci_bus_id} is a different board "
                                   f"({b.uuid} -> {a.uuid})"))
        if a.status != "ok" and b.status == "ok":
            items.append(DriftItem(a.label, "gpu_gone", b.status, a.status,
                                   f"{_was(a.label, b.label)} reads {a.status}"
                                   + (f": {a.status_reason}" if a.status_reason else "")))
        eb, ea = error_sums(b)["total"], error_sums(a)["total"]
        if eb is not None and ea is not None and ea > eb:
            items.append(DriftItem(f"{a.label} NVLink errors", "errors_rising", str(eb), str(ea),
                                   f"{_was(a.label, b.label)} NVLink error counters rose {eb} -> {ea} (+{ea - eb})"))
    for la in now.gpu_links():
        ba, bb = m.before_label(la.a), m.before_label(la.b)
        lb = baseline.link(ba, bb) if ba and bb else None
        if lb is None:
            continue  # a GPU is new or gone: reported as such
        ident = f"{la.a}-{la.b}"
        was = f" (was {lb.a}-{lb.b})" if (lb.a, lb.b) != (la.a, la.b) else ""
        if la.nvlinks < lb.nvlinks:
            items.append(DriftItem(ident, "nvlinks_dropped", str(lb.nvlinks), str(la.nvlinks),
                                   f"{ident}{was} NVLinks {lb.nvlinks} -> {la.nvlinks}"))
        elif la.path != lb.path:
            items.append(DriftItem(ident, "path_changed", lb.path, la.path,
                                   f"{ident}{was} path {lb.path} -> {la.path}"))
        if lb.p2p == "OK" and isinstance(la.p2p, str) and la.p2p != "OK":
            items.append(DriftItem(f"{ident} P2P", "p2p_changed", lb.p2p, la.p2p,
                                   f"{ident}{was} peer-to-peer {lb.p2p} -> {la.p2p}"))
    return items
