"""What busbw a path should deliver, from plain numbers (the SKU catalogue supplies them), and how a
measurement compares. Facts for rules (TPD106 busbw-below-expected); no thresholds are decided here.

Anchors (docs/figures.md §0–2): NCCL reaches about 80% of NVLink line rate at application level
(sjeaugey, NVIDIA/nccl#1054: an NVLink modelled as 20 GB/s of 25). PCIe P2P under one switch reaches
~88% of the link (Gen5 54–56 of 63); through the CPU it is set by the root complex (8×RTX 5090 Gen5:
28–35 busbw; A100 pairs across sockets 20 of 31.5). Where a published measurement exists it wins over the
derived figure (`expected_busbw_gbps`): two H100 PCIe cards on an NV12 bridge measure 116 GB/s busbw
(nccl#1161), far below 12 × 25 × 0.8 = 240.
"""

from __future__ import annotations

from collections.abc import Iterable

from tpdoctor.model import skus
from tpdoctor.model.topology import PathKind, Topology

NVLINK_EFFICIENCY = 0.8
PCIE_SWITCH_EFFICIENCY = 0.8  # PIX / PXB: P2P stays under a PCIe switch
PCIE_HOST_EFFICIENCY = 0.5  # PHB / NODE / SYS: P2P through the host bridge or across sockets
_HOST_PATHS = frozenset({"PHB", "NODE", "SYS"})


def nvlink_busbw_gbps(nvlinks: int, link_gbps: float, efficiency: float = NVLINK_EFFICIENCY) -> float:
    """Expected all-reduce busbw over `nvlinks` bonded NVLinks of `link_gbps` each (per direction)."""
    if nvlinks < 0 or link_gbps < 0:
        raise ValueError("link count and rate must be non-negative")
    return nvlinks * link_gbps * efficiency


def pcie_busbw_gbps(pcie_gbps: float, path: str) -> float:
    """Expected busbw of a PCIe path (PIX … SYS) whose narrowest link carries `pcie_gbps` per direction."""
    if pcie_gbps < 0:
        raise ValueError("PCIe bandwidth must be non-negative")
    efficiency = PCIE_HOST_EFFICIENCY if path.upper() in _HOST_PATHS else PCIE_SWITCH_EFFICIENCY
    return pcie_gbps * efficiency


def pair_busbw_gbps(path: str, *, nvlinks: int = 0, link_gbps: float = 0.0, pcie_gbps: float = 0.0) -> float:
    """Expected busbw of one GPU pair on its effective path (`NV12` uses the NVLinks, others PCIe)."""
    if path.upper().startswith("NV") and path.upper() != "NET" and nvlinks > 0:
        return nvlink_busbw_gbps(nvlinks, link_gbps)
    return pcie_busbw_gbps(pcie_gbps, path)


def ring_busbw_gbps(pair_expectations: Iterable[float]) -> float:
    """A ring all-reduce runs at its slowest hop: the group's expectation is the minimum over its pairs."""
    values = list(pair_expectations)
    if not values:
        raise ValueError("a group needs at least one pair")
    return min(values)


def expected_busbw_gbps(derived_gbps: float, published_gbps: float | None = None) -> float:
    """The figure to compare against: a published measurement for this SKU and path when there is one."""
    return published_gbps if published_gbps is not None and published_gbps > 0 else derived_gbps


def busbw_ratio(measured_gbps: float, expected_gbps: float) -> float:
    """measured / expected (1.0 = as expected); expected must be positive."""
    if expected_gbps <= 0:
        raise ValueError("expected busbw must be positive")
    return measured_gbps / expected_gbps


def group_busbw_gbps(topology: Topology, group: tuple[int, ...]) -> float | None:
    """What all-reduce busbw this GPU group should reach (nccl-tests convention, large messages), or None.

    Per pair on its effective path (the functions above): NVLinks x the SKU's link rate x 0.8, or
    the PCIe path's rating x its efficiency; a ring runs at its slowest pair. A published figure for
    the SKU (data/gpus.yaml: ring, else floor) wins when every pair is on the SKU's own interconnect
    (NVLink for NVLink SKUs, PCIe for the rest): two H100 NVL on their bridge measure 116 GB/s, not 240.
    """
    if len(group) < 2:
        return None
    names = {g.index: g.name for g in topology.gpus}
    sku = skus.lookup(names.get(group[0], ""))
    if sku is None or any(skus.lookup(names.get(i, "")) != sku for i in group):
        return None
    derived: list[float] = []
    all_native = True
    for i, j in ((i, j) for n, i in enumerate(group) for j in group[n + 1:]):
        link = topology.gpu_link(i, j)
        if link is None:
            return None
        on_nvlink = link.kind is PathKind.NV
        all_native = all_native and on_nvlink == sku.has_nvlink
        if on_nvlink and sku.nvlink.link_gbps > 0:
            derived.append(nvlink_busbw_gbps(link.nvlinks, sku.nvlink.link_gbps))
        elif not on_nvlink and isinstance(link.nominal_gbps, float):
            derived.append(pcie_busbw_gbps(link.nominal_gbps, link.path))
        else:
            return None
    published = None
    if all_native:
        for key in ("ring", "floor"):
            value = sku.allreduce_busbw_gbps.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                published = float(value)
                break
    return round(expected_busbw_gbps(ring_busbw_gbps(derived), published), 3)
