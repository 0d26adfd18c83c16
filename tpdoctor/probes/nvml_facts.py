"""What the NVML probe learned, as plain data, and the pure steps from raw readings to facts.

No NVML here: `probes/nvml.py` makes the calls; this module holds the vocabularies (NVML enums to
nvidia-smi's words), the facts record, and the derivations that need no library (affinity masks to
CPU lists, far-end bus ids to peer GPUs, active links to `NV#` per pair).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tpdoctor.model.topology import Gpu, NvLinkState, RemoteType
from tpdoctor.model.unknown import Maybe, Unknown

LEVEL_PATH = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
P2P_CODE = {0: "OK", 1: "CNS", 2: "GNS", 3: "TNS", 4: "DR", 5: "NS", 6: "U"}
P2P_INDEX = {"read": 0, "write": 1, "nvlink": 2, "atomics": 3}  # plain ints: pynvml's READ is (0,)
NVLINK_GENERATION = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5, 8: 6}  # NVML_NVLINK_VERSION_* -> marketing
FABRIC_STATE = {0: "not_supported", 1: "not_started", 2: "in_progress", 3: "completed"}
FABRIC_HEALTH = {0: "not_supported", 1: "healthy", 2: "unhealthy", 3: "limited_capacity"}
# GpuFabricInfo structs, newest first; the last one goes with the legacy (unversioned) call
FABRIC_STRUCTS = ("c_nvmlGpuFabricInfo_v3_t", "c_nvmlGpuFabricInfo_v2_t", "c_nvmlGpuFabricInfo_t")
FABRIC_RETRY = ("NVMLError_ArgumentVersionMismatch", "NVMLError_FunctionNotFound")  # try the next struct
ERROR_COUNTERS = ("replay", "recovery", "crc_flit", "crc_data")  # NVML_NVLINK_ERROR_DL_* 0..3
FI_LINK_COUNT, FI_SPEED_COMMON, FI_PCIE_REPLAY, FI_SWITCH_LINKS = 91, 90, 94, 147
FI_GET_SPEED, FI_GET_VERSION = 164, 166


class GpuLost(Exception):
    """A GPU fell off the bus (NVMLError_GpuIsLost) during `call`."""

    def __init__(self, call: str) -> None:
        super().__init__(call)
        self.call = call


@dataclass(frozen=True)
class NvmlFacts:
    """What NVML said about the node, before links are assembled."""

    gpus: tuple[Gpu, ...]
    pcie_paths: dict[tuple[int, int], Maybe[str]]
    nvlink_counts: dict[tuple[int, int], int]
    p2p: dict[tuple[int, int], dict[str, str]]
    switch_fabric: bool | None
    driver_version: Maybe[str]
    cuda_version: Maybe[str]
    notes: tuple[str, ...] = ()
    calls: int = 0
    calls_by_function: dict[str, int] = field(default_factory=dict)


def set_bits(words: Any) -> list[int]:
    """Bit numbers set in an NVML affinity mask (ctypes array of 64-bit words; bit i%64 of word i//64)."""
    return [w * 64 + b for w, word in enumerate(words) for b in range(64) if int(word) >> b & 1]


def cpu_list(words: Any) -> Maybe[str]:
    """An affinity mask as `topo -m` prints it: "0-23,48-71"."""
    cpus = set_bits(words)
    if not cpus:
        return Unknown("empty CPU affinity mask")
    ranges: list[str] = []
    start = prev = cpus[0]
    for c in [*cpus[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        ranges.append(f"{start}-{prev}" if prev != start else str(start))
        if c is not None:
            start = prev = c
    return ",".join(ranges)


def resolve_peers(gpus: Sequence[Gpu]) -> list[Gpu]:
    """Fill each port's `peer` where its far end's bus id is a visible GPU (a hidden one stays None)."""
    by_bus = {g.pci_bus_id.upper(): g.index for g in gpus if isinstance(g.pci_bus_id, str)}
    out = []
    for g in gpus:
        ports = tuple(
            replace(p, peer=by_bus.get(p.remote_pci_bus_id.upper()))
            if isinstance(p.remote_pci_bus_id, str) and p.remote_type is not RemoteType.SWITCH else p
            for p in g.nvlinks)
        out.append(replace(g, nvlinks=ports))
    return out



def nvlink_counts(gpus: Sequence[Gpu], switch_links: Mapping[int, Maybe[int]]
                  ) -> tuple[dict[tuple[int, int], int], bool | None, list[str]]:
    """Active NVLinks per GPU pair and whether the node is an NVSwitch system, plus notes.

    Direct links count by the far end's bus id (seen from both sides, DCGM's way); on NVSwitch
    systems every pair gets the smaller of the two GPUs' switch-link counts (field 147), all-to-all.
    """
    notes: list[str] = []
    by_bus = {str(g.pci_bus_id).upper(): g.index for g in gpus if isinstance(g.pci_bus_id, str)}
    ports_by_gpu = {g.index: g.nvlinks for g in gpus}
    # field 147 reads only where NVSwitches are (NotSupported elsewhere); a Hopper fabric state
    # other than not_supported says the same even when every link is down
    switched = any(p.remote_type is RemoteType.SWITCH for g in gpus for p in g.nvlinks) or any(
        isinstance(v, int) for v in switch_links.values()) or any(
        g.fabric is not None and g.fabric.state != "not_supported" for g in gpus)
    # any GPU whose field 147 reads (even 0) sits on NVSwitches: all-to-all, NV# = links up
    on_switch = {i: v for i, v in switch_links.items() if isinstance(v, int)}
    counts: dict[tuple[int, int], int] = {}
    for a in gpus:
        for b in gpus:
            if a.index >= b.index:
                continue
            direct = sum(1 for p in ports_by_gpu[a.index] if p.state is NvLinkState.ACTIVE and
                         by_bus.get(str(p.remote_pci_bus_id).upper()) == b.index)
            back = sum(1 for p in ports_by_gpu[b.index] if p.state is NvLinkState.ACTIVE and
                       by_bus.get(str(p.remote_pci_bus_id).upper()) == a.index)
            if direct != back and a.status == b.status == "ok":
                notes.append(f"GPU{a.index}-GPU{b.index}: {direct} NVLinks seen from GPU{a.index}, "
                                  f"{back} from GPU{b.index}")
            n = min(direct, back) if a.status == b.status == "ok" else max(direct, back)
            if not n and a.index in on_switch and b.index in on_switch:
                n = min(on_switch[a.index], on_switch[b.index])
            counts[(a.index, b.index)] = n
    return counts, (True if switched else (None if not any(ports_by_gpu.values()) else False)), notes
