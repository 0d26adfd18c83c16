"""NVML reads about links: each GPU's NVLink ports, and the PCIe path and P2P status of each GPU pair.

Functions over an `NvmlReader` (its `query` helper returns a value or `Unknown`); `probes/nvml.py` calls them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.model.topology import Gpu, NvLinkErrors, NvLinkPort, NvLinkState, RemoteType
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes.nvml_facts import (
    ERROR_COUNTERS,
    FI_GET_SPEED,
    FI_GET_VERSION,
    LEVEL_PATH,
    NVLINK_GENERATION,
    P2P_CODE,
    P2P_INDEX,
    GpuLost,
    bus_id,
)

if TYPE_CHECKING:
    from tpdoctor.probes.nvml import NvmlReader

MAX_LINKS_FALLBACK = 18  # when NVML_NVLINK_MAX_LINKS is missing (very old pynvml)


def read_ports(self: NvmlReader, handle: Any, index: int, link_count: Maybe[int], mig: bool
               ) -> tuple[tuple[NvLinkPort, ...], str | None]:
    """Every NVLink port of one GPU (state, far end, speed, version, P2P capability, error counters), and
    why they could not be read (None when they were: no ports then means no NVLink hardware)."""
    w = f"GPU{index}"
    if isinstance(link_count, Unknown):
        probe = self.query("nvmlDeviceGetNvLinkState", handle, 0, what=f"{w} link 0")
        if isinstance(probe, Unknown):
            if probe.reason in ("NVMLError_NotSupported", "NVMLError_InvalidArgument"):
                return (), None  # no NVLink hardware: NotSupported already at link 0
            return (), f"NVLink port states not read: nvmlDeviceGetNvLinkState failed ({probe.reason})"
        limit = int(getattr(self.lib, "NVML_NVLINK_MAX_LINKS", MAX_LINKS_FALLBACK))
    else:
        limit = link_count
    if limit == 0:
        return (), None
    per_link = [(fid, k) for k in range(limit) for fid in (FI_GET_SPEED, FI_GET_VERSION)]
    fields = self.fields(handle, index, per_link)
    ports: list[NvLinkPort] = []
    for k in range(limit):
        wl = f"{w} link {k}"
        state = self.query("nvmlDeviceGetNvLinkState", handle, k, what=wl)
        if isinstance(state, Unknown):
            if state.reason in ("NVMLError_InvalidArgument", "NVMLError_NotSupported") and \
                    isinstance(link_count, Unknown):
                break  # past the last link (P8)
            ports.append(NvLinkPort(link=k, state=NvLinkState.UNKNOWN))
            continue
        active = state == getattr(self.lib, "NVML_FEATURE_ENABLED", 1)
        kind = NvLinkState.ACTIVE if active else (NvLinkState.DISABLED if mig else NvLinkState.INACTIVE)
        remote: Maybe[str] = Unknown("inactive link: far end not read")
        rtype = RemoteType.UNKNOWN
        if active:
            remote = self.query("nvmlDeviceGetNvLinkRemotePciInfo", handle, k, what=wl,
                                then=lambda pci: bus_id(pci.busId))
            dtype = self.query("nvmlDeviceGetNvLinkRemoteDeviceType", handle, k, what=wl)
            rtype = {0: RemoteType.GPU, 2: RemoteType.SWITCH}.get(dtype, RemoteType.UNKNOWN) \
                if isinstance(dtype, int) else RemoteType.UNKNOWN
        cap = self.query("nvmlDeviceGetNvLinkCapability", handle, k,
                         int(getattr(self.lib, "NVML_NVLINK_CAP_P2P_SUPPORTED", 0)), what=wl)
        counters = {name: self.query("nvmlDeviceGetNvLinkErrorCounter", handle, k, c, what=wl)
                    for c, name in enumerate(ERROR_COUNTERS)}
        speed = fields[(FI_GET_SPEED, k)]
        version = fields[(FI_GET_VERSION, k)]
        ports.append(NvLinkPort(
            link=k, state=kind,
            speed_gbps=(speed / 1000 if active else Unknown("link inactive"))
            if isinstance(speed, int) else speed,
            version=NVLINK_GENERATION.get(version, Unknown(f"NVLink version enum {version}"))
            if isinstance(version, int) else version,
            remote_pci_bus_id=remote, remote_type=rtype,
            p2p_supported=bool(cap) if isinstance(cap, int) else cap,
            errors=NvLinkErrors(**counters)))
    return tuple(ports), None


def read_pairs(self: NvmlReader, gpus: list[Gpu], handles: dict[int, Any]) -> tuple[
        dict[tuple[int, int], Maybe[str]], dict[tuple[int, int], dict[str, str]], dict[int, str]]:
    """PCIe path and P2P codes per pair, plus GPUs lost on the way (with the call that lost them)."""
    paths: dict[tuple[int, int], Maybe[str]] = {}
    p2p: dict[tuple[int, int], dict[str, str]] = {}
    lost: dict[int, str] = {}
    for a in gpus:
        for b in gpus:
            if a.index >= b.index:
                continue
            key = (a.index, b.index)
            if a.index not in handles or b.index not in handles or a.index in lost or b.index in lost:
                bad = a if a.index not in handles or a.index in lost else b
                paths[key] = Unknown(f"{bad.label} {'lost' if bad.index in lost else bad.status}")
                continue
            what = f"GPU{a.index},GPU{b.index}"
            ha, hb = handles[a.index], handles[b.index]
            try:
                level = self.query("nvmlDeviceGetTopologyCommonAncestor", ha, hb, what=what)
                paths[key] = level if isinstance(level, Unknown) else \
                    LEVEL_PATH.get(level, Unknown(f"topology level {level}"))
                codes: dict[str, str] = {}
                for cap, idx in P2P_INDEX.items():
                    st = self.query("nvmlDeviceGetP2PStatus", ha, hb, idx, what=f"{what} {cap}")
                    if isinstance(st, int):
                        codes[cap] = P2P_CODE.get(st, "U")
                    else:  # left out, so "not read" (and nvidia-smi may fill it in), not a fake "U"
                        self.note_once(f"nvmlDeviceGetP2PStatus failed ({st.reason}): P2P not read")
                p2p[key] = codes
            except GpuLost as exc:
                paths[key] = Unknown(f"NVMLError_GpuIsLost during {exc.call}")
                for i in key:  # which of the two fell off the bus?
                    try:
                        self.query("nvmlDeviceGetIndex", handles[i], what=f"GPU{i}")
                    except GpuLost:
                        lost[i] = exc.call
                        self.notes.append(f"GPU{i}: lost during {exc.call} (NVMLError_GpuIsLost)")
    return paths, p2p, lost
