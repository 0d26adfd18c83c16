"""A fake machine, read from a fixture YAML file: what the fake NVML library answers from.

Fixture layout (all keys but `gpus` optional):

    description: free text
    mirrors: corpus/topo-m/007-...txt        # the nvidia-smi capture this machine reproduces
    driver_version: "550.54.15"
    cuda_driver_version: 12040
    defaults: {<any per-GPU key>}            # merged under every GPU entry
    gpus:
      - bus_id: "00000000:18:00.0"           # required
        name: NVIDIA H100 NVL
        uuid: GPU-...                        # default: derived from the bus id
        arch: hopper                         # NVML_DEVICE_ARCH_<ARCH>
        pci_device_id: 0x232110DE
        memory_mib: 95830
        numa_node: 0                         # memory affinity (NVML_AFFINITY_SCOPE_NODE)
        gpu_numa_id: 2                       # nvmlDeviceGetNumaNodeId; absent = NotSupported
        cpu_affinity: "0-31,64-95"
        pci_path: [socket0, hostbridge0, switch0]   # socket, host bridge, PCIe bridges down to the GPU
        pcie: {gen: 5, width: 16, max_gen: 5, max_width: 16, gpu_max_gen: 5, replay: 0}
        mig: [0, 0]                          # [current, pending]; absent = NotSupported
        health: {remapped_rows: [0, 4, 1, 0], clocks_event_reasons: 0x88}   # tests/fakenvml/health.py
        virtualization: pass-through         # nvmlDeviceGetVirtualizationMode: none (default: bare
                                             # metal), pass-through, vgpu, host-vgpu, host-vsga;
                                             # not_supported = the call fails NotSupported
        nvlink: {count: 18, version: 6, speed_mbps: 26562}   # absent = no NVLink (NotSupported)
        switch_links: 12                     # links landing on NVSwitches (HGX/DGX)
        switch_links_inactive: 1             # the last N of those read inactive
        link_slots: [0, 1, 2, 3, 5]           # physical link numbers of the wired links (default 0, 1, ...)
        link_overrides: {3: {state: inactive, errors: {replay: 7}, caps: {p2p: 0}}}
        fabric: {state: completed, status: 0, health_summary: 1, clique_id: 0, health_mask: 0,
                 cluster_uuid: 3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4}   # default: all zeros (no MNNVL)
    nvlinks:                                 # direct GPU-GPU NVLinks, both ends listed once
      - {pair: [2, 3], count: 12}
      - {pair: [0, 1], count: 12, state: inactive}
    pcie_levels: {"0-1": PHB}                # overrides what pci_path implies
    p2p:
      default: {read: OK, write: OK, atomics: OK, pci: OK}   # nvlink is OK where NVLink is up, else NS
      pairs: {"0-1": {read: CNS, write: CNS}}
    faults:
      init_error: DriverNotLoaded            # or LibraryNotFound (the .so is missing), NoPermission, ...
      lost: {gpu: 3, from_call: nvmlDeviceGetNvLinkState}
      delay: {call: nvmlDeviceGetTopologyCommonAncestor, seconds: 5}
      missing_functions: [nvmlDeviceGetGpuFabricInfoV]
      errors: [{call: nvmlDeviceGetMemoryInfo, gpu: 1, error: NoPermission}]
      past_last_link: invalid_argument       # or not_supported (both exist in the field)
      fabric_struct_max: 2                   # the driver knows GpuFabricInfo v2 only (v3: ARGUMENT_VERSION_MISMATCH)
      unsupported_fields: [91]               # field ids whose entries come back NOT_SUPPORTED
      remote_bus_id: {mode: bad_bytes, gpus: [0]}   # or empty: what VMs fill into an NVLink's remote
                                             # PCI info (nvml-reference §4.1); gpus absent = every GPU
      field_147_zero: true                   # field 147 (NVSwitch links) reads 0 with success on GPUs
                                             # without switch links, instead of NOT_SUPPORTED
      delay: {call: nvmlInit, seconds: 3}    # a slow nvmlInit (persistence mode off)

NVLink indices are handed out in order: first the `nvlinks` pairs (in file order), then the switch
links, then inactive links without a known far end up to `nvlink.count`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fakenvml.health import health_defaults

ARCH = {"kepler": 2, "maxwell": 3, "pascal": 4, "volta": 5, "turing": 6, "ampere": 7, "ada": 8,
        "hopper": 9, "blackwell": 10, "rubin": 13}
# marketing NVLink generation -> NVML_NVLINK_VERSION_* enum (A100/GA102 report 3.1 = 5)
NVLINK_VERSION_ENUM = {1: 1, 2: 2, 3: 5, 4: 6, 5: 7, 6: 8}
LEVELS = {"PIX": 10, "PXB": 20, "PHB": 30, "NODE": 40, "SYS": 50}
P2P_CODES = {"OK": 0, "CNS": 1, "GNS": 2, "TNS": 3, "DR": 4, "NS": 5, "U": 6}
P2P_CAPS = {"read": 0, "write": 1, "nvlink": 2, "atomics": 3, "pci": 4}
FABRIC_STATES = {"not_supported": 0, "not_started": 1, "in_progress": 2, "completed": 3}
CAP_NAMES = ("p2p", "sysmem_access", "p2p_atomics", "sysmem_atomics", "sli_bridge", "valid")
ERROR_NAMES = ("replay", "recovery", "crc_flit", "crc_data", "ecc_data")
# NVML_GPU_VIRTUALIZATION_MODE_* (nvml.h); None: the call answers NOT_SUPPORTED
VIRTUALIZATION = {"none": 0, "pass-through": 1, "vgpu": 2, "host-vgpu": 3, "host-vsga": 4, "not_supported": None}


class FixtureError(ValueError):
    """A fake-machine file that does not describe a machine."""


@dataclass
class FakeLink:
    active: bool
    remote_kind: str | None = None  # "gpu" | "switch" | None (far end not reported)
    remote_gpu: int | None = None
    remote_bus_id: str | None = None
    caps: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    speed_mbps: int = 0
    version_enum: int = 0


@dataclass
class FakeGpu:
    index: int
    bus_id: str
    name: str
    uuid: str
    arch: int
    pci_device_id: int
    memory_mib: int
    numa_node: int | None
    gpu_numa_id: int | None
    cpu_affinity: list[int]
    pci_path: list[str]
    pcie: dict[str, int]
    mig: list[int] | None
    links: list[FakeLink] | None  # None: no NVLink hardware
    fabric: dict[str, Any] | None  # None: the fabric calls raise NotSupported
    virtualization: int | None = 0  # NVML_GPU_VIRTUALIZATION_MODE_*; None: NotSupported
    health: dict[str, Any] = field(default_factory=dict)  # tests/fakenvml/health.py

    @property
    def domain(self) -> int:
        return int(self.bus_id.split(":")[0], 16)

    @property
    def bus(self) -> int:
        return int(self.bus_id.split(":")[1], 16)

    @property
    def device(self) -> int:
        return int(self.bus_id.split(":")[2].split(".")[0], 16)


@dataclass
class Machine:
    path: str
    driver_version: str
    cuda_driver_version: int
    gpus: list[FakeGpu]
    levels: dict[tuple[int, int], int]
    p2p: dict[tuple[int, int], dict[int, int]]
    faults: dict[str, Any]
    description: str = ""


def parse_cpu_list(text: str) -> list[int]:
    """'0-23,48-71' -> [0..23, 48..71]."""
    cpus: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def _pair_key(text: str) -> tuple[int, int]:
    a, b = (int(x) for x in str(text).split("-"))
    return (min(a, b), max(a, b))


def _level_from_paths(a: list[str], b: list[str]) -> int:
    if not a or not b or a[0] != b[0]:
        return LEVELS["SYS"]
    if len(a) < 2 or len(b) < 2 or a[1] != b[1]:
        return LEVELS["NODE"]
    common = 0
    for x, y in zip(a[2:], b[2:]):
        if x != y:
            break
        common += 1
    if common == 0:
        return LEVELS["PHB"]
    if common == len(a) - 2 and common == len(b) - 2:
        return LEVELS["PIX"]
    return LEVELS["PXB"]


def load_machine(path: str | Path) -> Machine:
    p = Path(path)
    data = yaml.safe_load(p.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
        raise FixtureError(f"{p}: a fake machine needs a 'gpus' list")
    defaults = data.get("defaults") or {}
    raw_gpus = [{**defaults, **g} for g in data["gpus"]]
    gpus: list[FakeGpu] = []
    for i, g in enumerate(raw_gpus):
        bus_id = str(g["bus_id"]).upper()
        digest = hashlib.sha1(f"{p.name}:{bus_id}".encode()).hexdigest()
        uuid = g.get("uuid") or (f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-"
                                  f"{digest[16:20]}-{digest[20:32]}")
        gpus.append(FakeGpu(
            index=i, bus_id=bus_id, name=str(g.get("name", "NVIDIA Fake GPU")), uuid=uuid,
            arch=ARCH[str(g.get("arch", "hopper"))], pci_device_id=int(g.get("pci_device_id", 0x233010DE)),
            memory_mib=int(g.get("memory_mib", 81559)), numa_node=g.get("numa_node"),
            gpu_numa_id=g.get("gpu_numa_id"), cpu_affinity=parse_cpu_list(g.get("cpu_affinity", "")),
            pci_path=[str(x) for x in g.get("pci_path", ["socket0", f"hostbridge{i}"])],
            pcie={k: int(v) for k, v in (g.get("pcie") or {}).items()},
            mig=list(g["mig"]) if g.get("mig") is not None else None,
            links=None, fabric=None,
        ))
        mode = str(g.get("virtualization", "none"))
        if mode not in VIRTUALIZATION:
            raise FixtureError(f"{p}: GPU{i} virtualization {mode!r} is not one of {sorted(VIRTUALIZATION)}")
        gpus[-1].virtualization = VIRTUALIZATION[mode]
        gpus[-1].health = health_defaults(gpus[-1].arch, g.get("health"), str(data.get("driver_version", "550.54.15")))
        fab = g.get("fabric")
        if fab is not None:
            gpus[-1].fabric = {
                "state": FABRIC_STATES[str(fab.get("state", "completed"))],
                "status": int(fab.get("status", 0)),
                "health_summary": int(fab.get("health_summary", 0)),
                "health_mask": int(fab.get("health_mask", 0)),
                "clique_id": int(fab.get("clique_id", 0)),
                "cluster_uuid": bytes.fromhex(str(fab.get("cluster_uuid", "0" * 32)).replace("-", "")),
            }
            if len(gpus[-1].fabric["cluster_uuid"]) != 16:
                raise FixtureError(f"{p}: GPU{i} fabric.cluster_uuid is not 16 bytes of hex")
    _build_links(p, data, raw_gpus, gpus)
    levels: dict[tuple[int, int], int] = {}
    for a in gpus:
        for b in gpus:
            if a.index < b.index:
                levels[(a.index, b.index)] = _level_from_paths(a.pci_path, b.pci_path)
    for k, v in (data.get("pcie_levels") or {}).items():
        levels[_pair_key(k)] = LEVELS[str(v)]
    p2p = _build_p2p(data.get("p2p") or {}, gpus)
    return Machine(path=str(p), driver_version=str(data.get("driver_version", "550.54.15")),
                   cuda_driver_version=int(data.get("cuda_driver_version", 12040)), gpus=gpus,
                   levels=levels, p2p=p2p, faults=dict(data.get("faults") or {}),
                   description=str(data.get("description", "")))


def _build_links(p: Path, data: dict[str, Any], raw: list[dict[str, Any]], gpus: list[FakeGpu]) -> None:
    for g, r in zip(gpus, raw):
        if r.get("nvlink") is not None:
            g.links = []
    for spec in data.get("nvlinks") or []:
        a, b = (int(x) for x in spec["pair"])
        active = str(spec.get("state", "active")) == "active"
        for me, peer in ((a, b), (b, a)):
            if gpus[me].links is None:
                raise FixtureError(f"{p}: GPU{me} has NVLinks to GPU{peer} but no 'nvlink' section")
            for _ in range(int(spec["count"])):
                gpus[me].links.append(FakeLink(active=active, remote_kind="gpu", remote_gpu=peer,  # type: ignore[union-attr]
                                               remote_bus_id=gpus[peer].bus_id))
    for g, r in zip(gpus, raw):
        if g.links is None:
            continue
        nv = r["nvlink"]
        n_switch, n_down = int(r.get("switch_links", 0)), int(r.get("switch_links_inactive", 0))
        for k in range(n_switch):
            g.links.append(FakeLink(active=k < n_switch - n_down, remote_kind="switch",
                                    remote_bus_id=f"00000000:{0xC4 + k // 6:02X}:00.0"))
        count = int(nv.get("count", len(g.links)))
        if len(g.links) > count:
            raise FixtureError(f"{p}: GPU{g.index} lists {len(g.links)} NVLinks but nvlink.count is {count}")
        while len(g.links) < count:
            g.links.append(FakeLink(active=False))
        slots = r.get("link_slots")  # physical link numbers of the wired links, in the order listed
        if slots:
            wired, spare = g.links[:len(slots)], g.links[len(slots):]
            placed: list[FakeLink | None] = [None] * count
            for slot, link in zip(slots, wired):
                placed[int(slot)] = link
            rest = iter(spare)
            g.links = [lk if lk is not None else next(rest) for lk in placed]
        version = NVLINK_VERSION_ENUM[int(nv.get("version", 4))]
        for k, link in enumerate(g.links):
            link.speed_mbps = int(nv.get("speed_mbps", 26562))
            link.version_enum = version
            link.caps = {name: 1 for name in CAP_NAMES[:4]} | {"sli_bridge": 0, "valid": 0}
            link.errors = dict.fromkeys(ERROR_NAMES, 0)
            over = (r.get("link_overrides") or {}).get(k) or {}
            if "state" in over:
                link.active = over["state"] == "active"
            link.caps.update(over.get("caps") or {})
            link.errors.update(over.get("errors") or {})
            if "speed_mbps" in over:
                link.speed_mbps = int(over["speed_mbps"])


def nvlink_up_between(gpus: list[FakeGpu], i: int, j: int) -> bool:
    li, lj = gpus[i].links or [], gpus[j].links or []
    if any(lk.active and lk.remote_gpu == j for lk in li):
        return True
    return any(lk.active and lk.remote_kind == "switch" for lk in li) and any(
        lk.active and lk.remote_kind == "switch" for lk in lj)


def _build_p2p(spec: dict[str, Any], gpus: list[FakeGpu]) -> dict[tuple[int, int], dict[int, int]]:
    default = {"read": "OK", "write": "OK", "atomics": "OK", "pci": "OK"} | (spec.get("default") or {})
    pairs = {_pair_key(k): v for k, v in (spec.get("pairs") or {}).items()}
    out: dict[tuple[int, int], dict[int, int]] = {}
    for a in gpus:
        for b in gpus:
            if a.index >= b.index:
                continue
            codes = dict(default)
            codes["nvlink"] = "OK" if nvlink_up_between(gpus, a.index, b.index) else "NS"
            codes.update(pairs.get((a.index, b.index)) or {})
            caps = {P2P_CAPS[name]: P2P_CODES[str(code)] for name, code in codes.items()}
            caps[5] = P2P_CODES["U"]
            out[(a.index, b.index)] = caps
    return out
