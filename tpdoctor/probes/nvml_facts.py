"""What the NVML probe learned, as plain data, and the pure steps from raw readings to facts.

No NVML here: `probes/nvml.py` makes the calls; this module holds the vocabularies (NVML enums to
nvidia-smi's words), the facts record, and the derivations that need no library (affinity masks to
CPU lists, far-end bus ids to peer GPUs, active links to `NV#` per pair).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tpdoctor.model.topology import Gpu, NvLinkState, RemoteType
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.model.virtualization import MODES

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
    nvlink_counts: dict[tuple[int, int], Maybe[int]]  # Unknown: far ends or ports unreadable
    p2p: dict[tuple[int, int], dict[str, str]]
    switch_fabric: bool | None
    driver_version: Maybe[str]
    cuda_version: Maybe[str]
    notes: tuple[str, ...] = ()
    calls: int = 0
    calls_by_function: dict[str, int] = field(default_factory=dict)


_BUS_ID_RE = re.compile(r"^[0-9A-F]{4,8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-7]$")


def virtualization_mode(value: Any) -> Maybe[str]:
    """NVML_GPU_VIRTUALIZATION_MODE_* -> none, pass-through, vgpu, host-vgpu, host-vsga."""
    mode = MODES.get(int(value))
    return mode if mode is not None else Unknown(f"virtualization mode {int(value)} not known")


def bus_id(text: str) -> Maybe[str]:
    """A PCI bus id as NVML filled it, upper-cased; Unknown when empty or not a bus id (VMs fill the
    remote bus id of an NVLink with nothing, or with bytes that are not text:
    NVML's NvLinkRemotePciInfo)."""
    value = str(text).strip().upper()
    if not value:
        return Unknown("empty PCI bus id")
    if not _BUS_ID_RE.match(value):
        return Unknown(f"not a PCI bus id: {value[:24]!r}")
    return value


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



def _unresolved(g: Gpu) -> int:
    """Active GPU-to-GPU ports whose far end could not be read (no bus id): they land somewhere unknown."""
    return sum(1 for p in g.nvlinks if p.state is NvLinkState.ACTIVE and p.remote_type is not RemoteType.SWITCH
               and isinstance(p.remote_pci_bus_id, Unknown))


def _single_peer_estimate(g: Gpu, peer: int, direct: int, p2p: Mapping[tuple[int, int], Mapping[str, str]],
                          indices: Sequence[int]) -> int | None:
    """A GPU whose far ends are unreadable but that has exactly one NVLink P2P peer: all its active ports
    go there (a bridge pair in a VM). None when P2P over NVLink names no single peer."""
    peers = [j for j in indices if j != g.index
             and p2p.get((min(g.index, j), max(g.index, j)), {}).get("nvlink") == "OK"]
    return direct + _unresolved(g) if peers == [peer] else None


def nvlink_counts(gpus: Sequence[Gpu], switch_links: Mapping[int, Maybe[int]],
                  p2p: Mapping[tuple[int, int], Mapping[str, str]] | None = None
                  ) -> tuple[dict[tuple[int, int], Maybe[int]], bool | None, list[str]]:
    """Active NVLinks per GPU pair and whether the node is an NVSwitch system, plus notes.

    Direct links count by the far end's bus id (seen from both sides, DCGM's way); a side whose far
    ends could not all be read does not count, the other side does; when neither side can, P2P over
    NVLink settles a pair with a single peer, and otherwise the count is Unknown (never a guessed 0).
    On NVSwitch systems (field 147 > 0, as DCGM reads it; a switch at a link's far end; a Hopper fabric
    state) every pair gets the smaller of the two GPUs' switch-link counts, all-to-all.
    """
    p2p = p2p or {}
    notes: list[str] = []
    by_bus = {str(g.pci_bus_id).upper(): g.index for g in gpus if isinstance(g.pci_bus_id, str)}
    ports_by_gpu = {g.index: g.nvlinks for g in gpus}
    indices = [g.index for g in gpus]
    on_switch = {i: v for i, v in switch_links.items() if isinstance(v, int) and v > 0}
    switched = bool(on_switch) or any(p.remote_type is RemoteType.SWITCH for g in gpus for p in g.nvlinks) or any(
        g.fabric is not None and g.fabric.state != "not_supported" for g in gpus)
    counts: dict[tuple[int, int], Maybe[int]] = {}
    for a in gpus:
        for b in gpus:
            if a.index >= b.index:
                continue
            direct = sum(1 for p in ports_by_gpu[a.index] if p.state is NvLinkState.ACTIVE and
                         by_bus.get(str(p.remote_pci_bus_id).upper()) == b.index)
            back = sum(1 for p in ports_by_gpu[b.index] if p.state is NvLinkState.ACTIVE and
                       by_bus.get(str(p.remote_pci_bus_id).upper()) == a.index)
            both_ok = a.status == b.status == "ok"
            ua, ub = _unresolved(a), _unresolved(b)
            n: Maybe[int]
            if not both_ok:
                n = max(direct, back)
            elif a.nvlinks_unread is not None or b.nvlinks_unread is not None:
                n = _blind(a, b, direct, back, ua, ub)
            elif ua == 0 and ub == 0:
                if direct != back:
                    notes.append(f"GPU{a.index}-GPU{b.index}: {direct} NVLinks seen from GPU{a.index}, "
                                 f"{back} from GPU{b.index}")
                n = min(direct, back)
            elif ua == 0 or ub == 0:
                n = direct if ua == 0 else back  # the side that could read every far end
            else:
                n = _both_unresolved(a, b, direct, back, p2p, indices)
            if n == 0 and a.index in on_switch and b.index in on_switch:
                n = min(on_switch[a.index], on_switch[b.index])
            counts[(a.index, b.index)] = n
    unreadable = [f"GPU{g.index}" for g in gpus if _unresolved(g)]
    if unreadable:
        notes.append(f"far end (remote PCI bus id) of some active NVLinks unreadable on {', '.join(unreadable)}; "
                     "counted from the other side, or from P2P over NVLink")
    return counts, (True if switched else None), notes


def _blind(a: Gpu, b: Gpu, direct: int, back: int, ua: int, ub: int) -> Maybe[int]:
    """A GPU whose port states could not be read at all: count from the other side when it saw all."""
    if a.nvlinks_unread is None and ua == 0:
        return direct
    if b.nvlinks_unread is None and ub == 0:
        return back
    return Unknown(f"NVLink ports of GPU{a.index} and GPU{b.index} not read: NVLink count not known")


def _both_unresolved(a: Gpu, b: Gpu, direct: int, back: int,
                     p2p: Mapping[tuple[int, int], Mapping[str, str]], indices: Sequence[int]) -> Maybe[int]:
    code = p2p.get((a.index, b.index), {}).get("nvlink")
    if code is not None and code != "OK":
        return min(direct, back)  # no NVLink P2P between them: none of the unreadable ports is theirs
    guesses = [e for e in (_single_peer_estimate(a, b.index, direct, p2p, indices),
                           _single_peer_estimate(b, a.index, back, p2p, indices)) if e is not None]
    if guesses:
        return min(guesses)
    return Unknown(f"far ends of the active NVLinks of GPU{a.index} and GPU{b.index} unreadable "
                   "(remote PCI bus id): NVLink count not known")
