"""The node's topology: GPUs, NICs and the links between them, in nvidia-smi's own vocabulary.

Paths are strings as `nvidia-smi topo -m` prints them: `NV<n>`, `PIX`, `PXB`, `PHB`, `NODE`, `SYS`
(old drivers' `SOC` is `SYS`, `PSB` is `PIX`), plus `NET` between nodes. A link's `path` is the path
traffic takes *now*: a pair whose NVLinks are down carries its PCIe path, with `nvlinks_expected`
saying what should have been there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

from tpdoctor import SCHEMA
from tpdoctor.model.health import GpuHealth, MissingGpu, View
from tpdoctor.model.imex import Imex
from tpdoctor.model.unknown import Maybe, Unknown


class PathKind(str, Enum):
    """Path classes from best to worst (the order of `RANK`)."""

    NV = "NV"
    PIX = "PIX"
    PXB = "PXB"
    PHB = "PHB"
    NODE = "NODE"
    SYS = "SYS"
    NET = "NET"


RANK = {kind: i for i, kind in enumerate(PathKind)}
PCIE_KINDS = frozenset({PathKind.PIX, PathKind.PXB, PathKind.PHB, PathKind.NODE, PathKind.SYS})
_ALIASES = {"SOC": "SYS", "PSB": "PIX"}
_NV_RE = re.compile(r"^NV(\d+)$")


def normalize_path(text: str) -> str:
    """Canonical spelling of a `topo -m` cell; raises ValueError for anything else."""
    t = text.strip().upper()
    t = _ALIASES.get(t, t)
    m = _NV_RE.match(t)
    if m:
        n = int(m.group(1))
        if n < 1 or n > 72:
            raise ValueError(f"implausible NVLink count in {text!r}")
        return f"NV{n}"
    if t in PathKind.__members__ and t != "NV":
        return t
    raise ValueError(f"not a topology path: {text!r}")


def path_kind(path: str) -> PathKind:
    return PathKind.NV if path.startswith("NV") and path != "NET" else PathKind(path)


def path_nvlinks(path: str) -> int:
    m = _NV_RE.match(path)
    return int(m.group(1)) if m else 0


def path_sort_key(path: str) -> tuple[int, int]:
    """Smaller is better: NVLink first (more links better), then PIX … SYS, NET."""
    return (RANK[path_kind(path)], -path_nvlinks(path))


class LinkHealth(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"  # some, not all, expected NVLinks up
    DOWN = "down"  # expected NVLinks, none up
    UNKNOWN = "unknown"


class NvLinkState(str, Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DISABLED = "disabled"  # e.g. MIG mode: off by configuration, not broken
    UNKNOWN = "unknown"


class RemoteType(str, Enum):
    GPU = "gpu"
    SWITCH = "switch"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NvLinkErrors:
    """Data-link-layer error counters of one NVLink (nvidia-smi `nvlink -e`)."""

    replay: Maybe[int] = Unknown("not read")
    recovery: Maybe[int] = Unknown("not read")
    crc_flit: Maybe[int] = Unknown("not read")
    crc_data: Maybe[int] = Unknown("not read")


@dataclass(frozen=True)
class NvLinkPort:
    """One NVLink of one GPU."""

    link: int
    state: NvLinkState
    speed_gbps: Maybe[float] = Unknown("not read")  # per direction, as `nvlink -s` prints it
    version: Maybe[int] = Unknown("not read")  # marketing generation: 2 (V100), 3 (A100), 4 (H100), 5 (B200)
    remote_pci_bus_id: Maybe[str] = Unknown("not read")
    remote_type: RemoteType = RemoteType.UNKNOWN
    peer: int | None = None  # GPU index at the far end, when it is a visible GPU
    p2p_supported: Maybe[bool] = Unknown("not read")
    errors: NvLinkErrors = field(default_factory=NvLinkErrors)


@dataclass(frozen=True)
class Pcie:
    gen_current: Maybe[int] = Unknown("not read")
    gen_max: Maybe[int] = Unknown("not read")  # max for this GPU in this slot
    width_current: Maybe[int] = Unknown("not read")
    width_max: Maybe[int] = Unknown("not read")
    gpu_gen_max: Maybe[int] = Unknown("not read")  # the GPU's own maximum
    replay_counter: Maybe[int] = Unknown("not read")


@dataclass(frozen=True)
class Fabric:
    """NVSwitch fabric registration (NVML GpuFabricInfo, `nvidia-smi -q` Fabric block): `completed` +
    `success` is registered. `cluster_uuid` + `clique_id` name the multi-node NVLink domain (a GB200 NVL72
    rack or partition); an all-zero UUID (HGX H100) means no multi-node domain. The health fields decode
    NVML's healthMask (nvidia-smi's Health lines): Unknown where the GPU or driver does not report them.
    Pure judgements over these live in `model/fabric.py`."""

    state: str  # not_supported | not_started | in_progress | completed
    status: Maybe[str] = Unknown("not read")  # NVML return name, meaningful only when completed
    health: Maybe[str] = Unknown("not read")  # healthy | unhealthy | limited_capacity | not_supported
    clique_id: Maybe[int] = Unknown("not read")
    cluster_uuid: Maybe[str] = Unknown("not read")  # 8-4-4-4-12 hex, lower case
    health_mask: Maybe[int] = Unknown("not read")  # NVML healthMask as read (v2+ struct)
    bandwidth: Maybe[str] = Unknown("not read")  # full | degraded
    route_recovery: Maybe[bool] = Unknown("not read")  # route recovery in progress
    route_unhealthy: Maybe[bool] = Unknown("not read")
    access_timeout_recovery: Maybe[bool] = Unknown("not read")  # access timeout recovery in progress
    incorrect_configuration: Maybe[str] = Unknown("not read")  # none | no_partition | insufficient_nvlinks ...
    partition_assigned: Maybe[bool] = Unknown("not read")
    gfm: Maybe[str] = Unknown("not read")  # global fabric manager: connected | disconnected


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    uuid: Maybe[str] = Unknown("not read")
    pci_bus_id: Maybe[str] = Unknown("not read")
    memory_mib: Maybe[int] = Unknown("not read")
    numa_node: Maybe[int] = Unknown("not read")
    cpu_affinity: Maybe[str] = Unknown("not read")  # as `topo -m` prints it: "0-23,48-71"
    nvlink_version: Maybe[int] = Unknown("not read")
    nvlinks: tuple[NvLinkPort, ...] = ()
    pcie: Pcie = field(default_factory=Pcie)
    mig: Maybe[bool] = Unknown("not read")
    fabric: Fabric | None = None
    pstate: Maybe[str] = Unknown("not read")  # performance state when read, "P0" (busy) ... "P8" (idle)
    status: str = "ok"  # ok | lost | error: one bad GPU never sinks the probe
    status_reason: str | None = None
    # Why this GPU's NVLink port states were not read (e.g. "`nvidia-smi nvlink --status` timed out");
    # None when they were read, so that an empty `nvlinks` means "no NVLink ports", never "not looked".
    nvlinks_unread: str | None = None
    # where the GPU runs (model/virtualization.py): none (bare metal), pass-through or vgpu (in a VM),
    # host-vgpu or host-vsga (the hypervisor host); NVML nvmlDeviceGetVirtualizationMode or `nvidia-smi -q`
    virtualization: Maybe[str] = Unknown("not read")
    # what the driver says of the GPU's health (model/health.py): `nvidia-smi -q` or NVML; Unknown when not read
    health: Maybe[GpuHealth] = Unknown("not read")

    @property
    def label(self) -> str:
        return f"GPU{self.index}"


@dataclass(frozen=True)
class Nic:
    index: int
    name: Maybe[str] = Unknown("not read")  # e.g. mlx5_0, from the NIC legend
    numa_node: Maybe[int] = Unknown("not read")

    @property
    def label(self) -> str:
        return f"NIC{self.index}"


@dataclass(frozen=True)
class Link:
    """An unordered pair (GPU–GPU or GPU–NIC), listed once with `a` before `b` (see `endpoint_key`)."""

    a: str
    b: str
    path: str  # effective path now, e.g. NV12 or PHB
    nvlinks: int = 0  # NVLinks bonded and up
    nvlinks_expected: Maybe[int] = 0
    pcie_path: Maybe[str] = Unknown("not read")  # the PCIe path under (or instead of) NVLink
    p2p: Maybe[str] = Unknown("not read")  # OK CNS GNS TNS NS DR U (read and write combined)
    p2p_detail: dict[str, str] = field(default_factory=dict)  # per capability: read/write/nvlink/atomics/pci
    health: LinkHealth = LinkHealth.UNKNOWN
    nominal_gbps: Maybe[float] = Unknown("not rated")  # per direction, of the effective path
    busbw_gbps: float | None = None  # measured all-reduce busbw of this pair, when benchmarked
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> PathKind:
        return path_kind(self.path)

    @property
    def is_gpu_pair(self) -> bool:
        return self.a.startswith("GPU") and self.b.startswith("GPU")

    @property
    def indices(self) -> tuple[int, int]:
        return endpoint_index(self.a), endpoint_index(self.b)


@cache
def endpoint_key(label: str) -> tuple[int, int]:
    """Sort key for endpoints: GPUs before NICs, numeric order (GPU2 before GPU10)."""
    m = re.match(r"^(GPU|NIC)(\d+)$", label)
    if not m:
        raise ValueError(f"not an endpoint label: {label!r}")
    return (0 if m.group(1) == "GPU" else 1, int(m.group(2)))


def endpoint_index(label: str) -> int:
    return endpoint_key(label)[1]


def ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if endpoint_key(a) <= endpoint_key(b) else (b, a)


class CheckState(str, Enum):
    MADE = "made"  # the evidence was there and the check was judged
    NOT_MADE = "not_made"  # the evidence was missing, partial or unreadable: an UNKNOWN part of the verdict
    NOT_APPLICABLE = "not_applicable"  # nothing to check here (no NVLink hardware, no NVSwitch fabric)


@dataclass(frozen=True)
class Check:
    """One check a node verdict claims, and whether the evidence it needs was there (`model/coverage.py`).

    A node is `ok` only when every check is made or not applicable; a check not made names why
    (`reason`), what it left unjudged (`subjects`: GPUs or pairs) and the command that answers it."""

    name: str  # links | nvlink_ports | gpu_info | nvlink_errors | p2p | fabric
    state: CheckState
    what: str  # the check in words: "NVLink port states"
    reason: str = ""  # why not made / why not applicable; empty when made
    command: str = ""  # what to run to answer it (when not made)
    subjects: tuple[str, ...] = ()  # the GPUs or GPU pairs it could not judge


@dataclass(frozen=True)
class Topology:
    """One frozen snapshot of a node. Nothing downstream of the probes touches hardware."""

    host: str
    source: str  # nvml | nvidia-smi | snapshot | fixture
    captured_at: str
    gpus: tuple[Gpu, ...]
    nics: tuple[Nic, ...] = ()
    links: tuple[Link, ...] = ()
    driver_version: Maybe[str] = Unknown("not read")
    cuda_version: Maybe[str] = Unknown("not read")
    probe_notes: tuple[str, ...] = ()  # what the probe could not read, disagreements between sources
    probe_duration_seconds: float | None = None
    schema: str = SCHEMA
    # The checks a verdict on this snapshot claims and whether their evidence was there; filled by
    # `model.coverage.with_coverage` (empty in snapshots written before it existed: derived then).
    coverage: tuple[Check, ...] = ()
    # the multi-node NVLink domain of this node's GPUs, "<ClusterUUID>.<CliqueId>" (GFD's nvidia.com/gpu.clique):
    # None when the node is in none (no fabric, or an HGX-style single-node one); Unknown when it should be
    # and cannot be told (fabric not registered yet, GPUs disagree). Filled by the probes (model/fabric.py).
    nvlink_domain: Maybe[str] | None = None
    imex: Imex | None = None  # the IMEX service, where collected (multi-node NVLink nodes)
    # GPUs the driver or the baseline knows of that nothing could read (fallen off the bus, lost), by identity
    missing: tuple[MissingGpu, ...] = ()
    view: View | None = None  # how much of the node this snapshot sees (a container's subset); None: not known
    driver_message: str | None = None  # what the driver said instead of listing GPUs ("No devices were found")

    def gpu(self, index: int) -> Gpu:
        for g in self.gpus:
            if g.index == index:
                return g
        raise KeyError(f"no GPU{index} on {self.host}")

    def link(self, a: str, b: str) -> Link | None:
        return self._link_index().get(ordered(a, b))

    def gpu_link(self, i: int, j: int) -> Link | None:
        return self.link(f"GPU{i}", f"GPU{j}")

    def gpu_links(self) -> tuple[Link, ...]:
        return tuple(lk for lk in self.links if lk.is_gpu_pair)

    def _link_index(self) -> dict[tuple[str, str], Link]:
        cache = self.__dict__.get("_links_by_pair")
        if cache is None:
            cache = {(lk.a, lk.b): lk for lk in self.links}
            object.__setattr__(self, "_links_by_pair", cache)
        return cache


def healthy_nvlink_groups(topo: Topology, exclude: frozenset[int] | set[int] = frozenset()) -> list[list[int]]:
    """GPUs connected over healthy NVLink pairs, as sorted groups (connected components; a GPU with no healthy
    NVLink is a group of one). GPUs not read (lost, error), GPUs in MIG mode (no NVLink, no P2P for a TP group)
    and those in `exclude` belong to no group."""
    parent = {g.index: g.index for g in topo.gpus if g.status == "ok" and g.mig is not True
              and g.index not in exclude}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for lk in topo.gpu_links():
        i, j = lk.indices
        if lk.kind is PathKind.NV and lk.health is LinkHealth.OK and i in parent and j in parent:
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in sorted(parent):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values())
