"""Root causes over symptoms: facts that let one finding stand for the many it explains.

A fabric that never came up darkens every NVLink of every GPU on an NVSwitch board: that is one fault
(nvidia-fabricmanager), not 28 pair faults. A GPU that lost every link is one GPU fault, not seven pair
faults. This module finds those cases (`folded_under` names the finding a pair is folded under), says
what NVLink hardware a pair's fix is about (bridge advice only on bridge SKUs), and spells the PCIe link
of a GPU against what the GPU itself can do (the slot or riser that holds it back).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.model import skus
from tpdoctor.model.topology import Gpu, LinkHealth, NvLinkState, Topology
from tpdoctor.model.unknown import Maybe, Unknown

REPAIR = {
    "bridge": "reseat or replace the NVLink bridge between the two cards",
    "switch": "have the HGX/DGX baseboard checked (NVLink connectors, NVSwitch trays; open a hardware ticket)",
    "mesh": "have the board's NVLink connections checked (open a hardware ticket)",
}
REPAIR_UNKNOWN = "find which NVLink hardware joins the pair (`nvidia-smi nvlink -R`) and have it checked"


def board_kind(gpus: tuple[Gpu, ...] | list[Gpu]) -> str:
    """The node's NVLink hardware from its SKUs: switch, bridge, mesh, none; mixed or unknown otherwise."""
    kinds = set()
    for g in gpus:
        sku = skus.lookup(g.name)
        if sku is None:
            return "unknown"
        kinds.add(sku.nvlink.topology)
    if len(kinds) == 1:
        return kinds.pop()
    return "mixed" if kinds else "unknown"


def repair(kind: str) -> str:
    return REPAIR.get(kind, REPAIR_UNKNOWN)


@dataclass(frozen=True)
class DarkLinks:
    """Which NVLink-down pairs one root cause explains."""

    pairs_expected: Counter[int] = field(default_factory=Counter)  # GPU -> pairs expecting NVLink
    pairs_down: Counter[int] = field(default_factory=Counter)  # GPU -> those pairs reading down
    node_dark: bool = False  # every expected NVLink pair down, and no GPU has an active port
    gpus_dark: frozenset[int] = frozenset()  # GPUs that lost every NVLink while others kept theirs


def dark_links(topology: Topology) -> DarkLinks:
    ok = {g.index for g in topology.gpus if g.status == "ok"}
    expected: Counter[int] = Counter()
    down: Counter[int] = Counter()
    any_up = False
    for lk in topology.gpu_links():
        i, j = lk.indices
        if i not in ok or j not in ok or not isinstance(lk.nvlinks_expected, int) or lk.nvlinks_expected <= 0:
            continue
        for x in (i, j):
            expected[x] += 1
            down[x] += lk.health is LinkHealth.DOWN
        any_up = any_up or lk.nvlinks > 0
    total = sum(expected.values()) // 2
    dark_ports = all(not any(p.state is NvLinkState.ACTIVE for p in g.nvlinks)
                     for g in topology.gpus if g.index in ok)
    node_dark = total > 0 and not any_up and sum(down.values()) // 2 == total and dark_ports
    gpus_dark = frozenset(i for i in expected if expected[i] >= 2 and down[i] == expected[i]) if any_up \
        else frozenset()
    return DarkLinks(expected, down, node_dark, gpus_dark)


def _text(gen: Maybe[int] | None, width: Maybe[int] | None) -> str:
    def show(v: Maybe[int] | None) -> str:
        return "?" if v is None or isinstance(v, Unknown) else str(v)
    return f"Gen{show(gen)} x{show(width)}"


def pcie_facts(g: Gpu) -> dict[str, Any]:
    """The GPU's PCIe link now, the slot's max and what the GPU itself can do (NVML, else its SKU)."""
    sku = skus.lookup(g.name)
    gen: Maybe[int] = g.pcie.gpu_gen_max
    if isinstance(gen, Unknown):
        gen = sku.pcie_gen if sku is not None else Unknown(f"GPU's own max generation not read ({gen.reason}) "
                                                          f"and {g.name!r} not in the SKU catalogue")
    width: Maybe[int] = sku.pcie_width if sku is not None else Unknown(f"{g.name!r} not in the SKU catalogue")
    return {
        "pcie_capable_gen": gen,
        "pcie_capable_width": width,
        "pcie_now": _text(g.pcie.gen_current, g.pcie.width_current),
        "pcie_slot_max": _text(g.pcie.gen_max, g.pcie.width_max),
        "pcie_capable": _text(gen, width),
    }
