"""What the nvidia-smi parsers return: plain data, close to the text, before it becomes a Topology.

The parsers (`probes/smi.py`) fill these; `probes/build.py` assembles them into a Topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopoMatrix:
    """`nvidia-smi topo -m`."""

    gpus: tuple[int, ...]  # GPU indices in row order
    nics: tuple[int, ...] = ()  # NIC indices (NIC0 -> 0), empty when the output has no NIC rows/columns
    # (row label, column label) -> normalized path ("NV12", "PHB", "SYS"...), labels "GPU3"/"NIC0".
    # Every off-diagonal GPU–GPU and GPU–NIC cell that the text shows; missing cells are absent.
    cells: dict[tuple[str, str], str] = field(default_factory=dict)
    cpu_affinity: dict[int, str] = field(default_factory=dict)  # GPU -> "0-23,48-71"; absent if N/A/blank
    numa_affinity: dict[int, int] = field(default_factory=dict)  # GPU -> NUMA node; absent if N/A/blank
    # (or when printed as a list, as on Grace: see numa_affinity_text)
    gpu_numa_id: dict[int, int] = field(default_factory=dict)  # GPU index -> GPU NUMA ID (Grace-class only)
    nic_names: dict[int, str] = field(default_factory=dict)  # NIC index -> "mlx5_0" from the NIC Legend
    header_present: bool = True
    notes: tuple[str, ...] = ()  # what the parser had to recover from (truncated rows, missing header...)
    # GPU index -> NUMA Affinity as printed when not N/A ("0", or a list like "0,3-9,11-17" on Grace)
    numa_affinity_text: dict[int, str] = field(default_factory=dict)
    rows_present: tuple[str, ...] = ()  # row labels the text shows, in order ("GPU0", "NIC1")

    def path(self, a: str, b: str) -> str | None:
        return self.cells.get((a, b)) or self.cells.get((b, a))


@dataclass(frozen=True)
class P2PMatrix:
    """`nvidia-smi topo -p2p r|w|n|a|p`: status codes OK CNS GNS TNS NS DR U per GPU pair."""

    capability: str  # "read" | "write" | "nvlink" | "atomics" | "pci" | "read_write" (-p2p rw) | "unknown"
    gpus: tuple[int, ...]
    cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (i, j) -> code, i != j


@dataclass(frozen=True)
class NvlinkStatusGpu:
    """One GPU block of `nvidia-smi nvlink --status`."""

    index: int
    name: str
    uuid: str | None
    links: dict[int, float | None] = field(default_factory=dict)  # link -> GB/s, None = <inactive>
    # NVML printed "Unable to retrieve NVLink information as all links are inActive" for this GPU
    all_inactive: bool = False
    header_present: bool = True  # False when the text had link lines but no `GPU n:` line (index 0 assumed)
    notes: tuple[str, ...] = ()  # elisions, merged duplicate blocks, skipped lines of another command


@dataclass(frozen=True)
class NvlinkErrorsGpu:
    """One GPU block of `nvidia-smi nvlink -e`: counter name -> value per link.

    Counter names: replay, recovery, crc (pre-Blackwell "CRC Errors"), crc_flit, crc_data, and for
    Blackwell-style outputs the lower-snake-case of whatever the driver prints.
    """

    index: int
    name: str
    uuid: str | None
    links: dict[int, dict[str, int]] = field(default_factory=dict)
    # NVML printed "Unable to retrieve NVLink information as all links are inActive" for this GPU
    all_inactive: bool = False
    header_present: bool = True  # False when the text had link lines but no `GPU n:` line (index 0 assumed)
    notes: tuple[str, ...] = ()  # elisions, merged duplicate blocks, skipped lines of another command


@dataclass(frozen=True)
class NvlinkCapsGpu:
    """One GPU block of `nvidia-smi nvlink -c`: capability -> bool per link.

    Capability names: p2p, sysmem_access, p2p_atomics, sysmem_atomics, sli, link_supported.
    """

    index: int
    name: str
    uuid: str | None
    links: dict[int, dict[str, bool]] = field(default_factory=dict)
    # NVML printed "Unable to retrieve NVLink information as all links are inActive" for this GPU
    all_inactive: bool = False
    header_present: bool = True  # False when the text had link lines but no `GPU n:` line (index 0 assumed)
    notes: tuple[str, ...] = ()  # elisions, merged duplicate blocks, skipped lines of another command


@dataclass(frozen=True)
class QueryGpuRow:
    """One row of `nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,memory.total,pcie.link.gen.current,
    pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max --format=csv` (None = [N/A])."""

    index: int
    name: str
    uuid: str | None
    pci_bus_id: str | None
    memory_mib: int | None
    pcie_gen_current: int | None
    pcie_gen_max: int | None
    pcie_width_current: int | None
    pcie_width_max: int | None
    problem: str | None = None  # a cell that reads `[GPU is lost]`, `[Unknown Error]` ... instead of a value


@dataclass(frozen=True)
class MigRow:
    """One row of `nvidia-smi --query-gpu=index,uuid,mig.mode.current,mig.mode.pending --format=csv`."""

    index: int  # the row's position when the query has no index column (`has_index` False)
    uuid: str | None
    current: bool | None  # None: [N/A], a GPU without MIG
    pending: bool | None
    has_index: bool = True
