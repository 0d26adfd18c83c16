"""A GPU is its UUID (and its PCI bus id), never its index: matching a snapshot's GPUs to a baseline's.

nvidia-smi and NVML number GPUs in PCI bus order from 0, so a node that lost one GPU (Xid 79: fallen off the
bus) renumbers the rest, and a container given two GPUs of eight sees them as 0 and 1. Comparing by index
then names the wrong boards ("GPU3 is a different board ... GPU7 is gone"). `match` pairs the GPUs of two
snapshots by UUID, else by bus id, and by index only when neither side recorded either (a raw `topo -m`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.model.topology import Gpu, Topology


def _norm_bus(bus: object) -> str | None:
    if not isinstance(bus, str) or ":" not in bus:
        return None
    domain, rest = bus.strip().split(":", 1)
    try:
        return f"{int(domain, 16):08X}:{rest.upper()}"
    except ValueError:
        return None


def bus_key(g: Gpu) -> str | None:
    return _norm_bus(g.pci_bus_id)


def uuid_key(g: Gpu) -> str | None:
    return g.uuid.lower() if isinstance(g.uuid, str) and g.uuid.strip() else None


@dataclass(frozen=True)
class Match:
    """Which GPU of `now` is which GPU of `before`; the GPUs of `before` nobody matched (gone, or outside a
    container's view), and those of `now` that are new."""

    now_to_before: dict[int, int] = field(default_factory=dict)  # index now -> index in the baseline
    gone: tuple[Gpu, ...] = ()  # baseline GPUs not seen now
    added: tuple[Gpu, ...] = ()  # GPUs now that the baseline did not have
    by: str = "uuid"  # how most GPUs were matched: uuid, bus id, or index (no identity recorded)

    def before_label(self, now_label: str) -> str | None:
        """`GPU3` now -> its label in the baseline, or None for a GPU the baseline did not have."""
        index = self.now_to_before.get(int(now_label[3:])) if now_label.startswith("GPU") else None
        return None if index is None else f"GPU{index}"

    @property
    def renumbered(self) -> dict[int, int]:
        return {now: before for now, before in self.now_to_before.items() if now != before}


def match(before: Topology, now: Topology) -> Match:
    """Pair the GPUs of two snapshots of one node by identity (UUID, then bus id); by index only where one side
    recorded no identity for the GPU (a raw `topo -m` capture, an old baseline)."""
    left = {g.index: g for g in before.gpus}
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    counts = {"uuid": 0, "bus id": 0, "index": 0}
    for key_name, key in (("uuid", uuid_key), ("bus id", bus_key)):
        index = {k: g.index for g in before.gpus if (k := key(g)) is not None and g.index not in taken}
        for g in now.gpus:
            if g.index in pairs:
                continue
            k = key(g)
            if k is not None and k in index and index[k] not in taken:
                pairs[g.index] = index[k]
                taken.add(index[k])
                counts[key_name] += 1
    anonymous_before = {g.index for g in before.gpus if uuid_key(g) is None and bus_key(g) is None}
    for g in now.gpus:  # no identity on one side (a raw `topo -m`, an old baseline): the index is all there is
        anonymous = uuid_key(g) is None and bus_key(g) is None
        if g.index not in pairs and g.index in left and g.index not in taken \
                and (anonymous or g.index in anonymous_before):
            pairs[g.index] = g.index
            taken.add(g.index)
            counts["index"] += 1
    gone = tuple(g for i, g in sorted(left.items()) if i not in taken)
    added = tuple(g for g in now.gpus if g.index not in pairs)
    by = max(counts, key=lambda k: counts[k]) if any(counts.values()) else "uuid"
    return Match(pairs, gone, added, by)
