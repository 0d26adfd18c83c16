"""Assemble parsed nvidia-smi outputs into one Topology.

The parsers (`probes/smi.py`) turn each command's text into plain parts; this module joins them by GPU
index: `topo -m` gives the GPUs, NICs, paths and CPU/NUMA affinity; `--query-gpu` names, UUIDs, bus ids,
memory and PCIe link; `nvlink --status` each GPU's ports (state, GB/s); `nvlink -e` their error
counters; `nvlink -c` their P2P capability; `topo -p2p r|w|n` the pair's P2P status. The link graph
(effective path, expected NVLinks, health) is `model.links.build_links`'s job.

Optional outputs that are missing or unparsable become probe notes, never a failed probe; only
`topo -m` is required. What they would have told becomes `Unknown` with the reason (which command failed,
which file the capture lacks), and `Gpu.nvlinks_unread` when the port states are missing: the verdict's
coverage record (`model/coverage.py`) reads those, so a partial capture can never pass for a full one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tpdoctor.model.errors import ParseError
from tpdoctor.model.fabric import node_domain
from tpdoctor.model.topology import (
    Gpu,
    Nic,
    NvLinkErrors,
    NvLinkPort,
    NvLinkState,
    Pcie,
    Topology,
    path_nvlinks,
)
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.model.virtualization import in_vm, not_exposed_reason
from tpdoctor.probes import smi
from tpdoctor.probes.smi_fabric import QueryFabric, parse_query_fabric
from tpdoctor.probes.smi_types import (
    NvlinkCapsGpu,
    NvlinkErrorsGpu,
    NvlinkStatusGpu,
    P2PMatrix,
    QueryGpuRow,
    TopoMatrix,
)

# File names of a collect directory (docs/parsers.md); also the keys of a raw-output bundle.
TOPO_M = "topo-m.txt"
P2P_FILES = {"topo-p2p-r.txt": "read", "topo-p2p-w.txt": "write", "topo-p2p-n.txt": "nvlink"}
NVLINK_STATUS = "nvlink-status.txt"
NVLINK_ERRORS = "nvlink-errors.txt"
NVLINK_CAPS = "nvlink-caps.txt"
QUERY_GPU = "query-gpu.csv"
QUERY_FULL = "query.txt"  # `nvidia-smi -q`: read for each GPU's Fabric block and the driver version
HOST = "host.txt"
SNAPSHOT = "snapshot.json"


@dataclass(frozen=True)
class SmiParts:
    """Everything the parsers read from one node; only `topo` is required."""

    topo: TopoMatrix
    p2p: dict[str, P2PMatrix] = field(default_factory=dict)  # capability ("read"...) -> matrix
    nvlink_status: tuple[NvlinkStatusGpu, ...] | None = None
    nvlink_errors: tuple[NvlinkErrorsGpu, ...] | None = None
    nvlink_caps: tuple[NvlinkCapsGpu, ...] | None = None
    query: tuple[QueryGpuRow, ...] | None = None
    notes: tuple[str, ...] = ()
    missing: dict[str, str] = field(default_factory=dict)  # file name -> why its output is not here
    fabric: QueryFabric | None = None  # `nvidia-smi -q`
    # file name -> the note its empty text left: a command that answered, with nothing (`nvlink --status`
    # in a VM that exposes no NVLink port; see `vm_without_nvlink`)
    empty: dict[str, str] = field(default_factory=dict)

    def why_missing(self, name: str) -> str:
        return self.missing.get(name) or f"{name} not in the capture"


T = TypeVar("T")


def parse_outputs(texts: Mapping[str, str], where: str = "",
                  sources: Mapping[str, str] | None = None, missing: Mapping[str, str] | None = None) -> SmiParts:
    """Parse a bundle of raw outputs keyed by collect-directory file name.

    Errors name `where/<file name>`, or `sources[file name]` when given (the live probe names the
    command). `topo-m.txt` must be present and parse (else ParseError); every other output that fails
    to parse becomes a note naming the file, the line and the parser's complaint. `missing` says why an
    absent output is absent (the live probe: the command failed or timed out); the parts keep it.
    """
    prefix = f"{where.rstrip('/')}/" if where else ""

    def source(name: str) -> str:
        return (sources or {}).get(name) or f"{prefix}{name}"

    if TOPO_M not in texts:
        raise ParseError("no `nvidia-smi topo -m` output", source=source(TOPO_M))
    topo = smi.parse_topo_m(texts[TOPO_M], source=source(TOPO_M))
    notes: list[str] = list(topo.notes)
    why: dict[str, str] = dict(missing or {})
    empty: dict[str, str] = {}

    def optional(name: str, parser: Callable[..., T]) -> T | None:
        text = texts.get(name)
        if text is None:
            return None
        try:
            return parser(text, source=source(name))
        except ParseError as exc:
            at = f" line {exc.line}" if exc.line is not None else ""
            notes.append(f"ignored {name}{at}: {exc.reason}")
            why[name] = f"{source(name)} did not parse ({exc.reason})"
            if not text.strip():
                empty[name] = notes[-1]
            return None

    p2p: dict[str, P2PMatrix] = {}
    for name, capability in P2P_FILES.items():
        matrix = optional(name, functools.partial(smi.parse_topo_p2p, capability=capability))
        if matrix is not None:
            p2p[capability if matrix.capability == "unknown" else matrix.capability] = matrix
    return SmiParts(
        topo=topo,
        p2p=p2p,
        nvlink_status=optional(NVLINK_STATUS, smi.parse_nvlink_status),
        nvlink_errors=optional(NVLINK_ERRORS, smi.parse_nvlink_errors),
        nvlink_caps=optional(NVLINK_CAPS, smi.parse_nvlink_caps),
        query=optional(QUERY_GPU, smi.parse_query_gpu),
        fabric=optional(QUERY_FULL, parse_query_fabric),
        notes=tuple(notes),
        missing=why,
        empty=empty,
    )


def _known(value: T | None, reason: str) -> Maybe[T]:
    return Unknown(reason) if value is None else value


def _ports(index: int, parts: SmiParts) -> tuple[NvLinkPort, ...]:
    status = _by_index(parts.nvlink_status).get(index)
    if status is None:
        return ()
    errors = _by_index(parts.nvlink_errors).get(index)
    caps = _by_index(parts.nvlink_caps).get(index)
    ports = []
    for link, gbps in sorted(status.links.items()):
        counters = errors.links.get(link) if errors is not None else None
        link_caps = caps.links.get(link) if caps is not None else None
        p2p_cap = link_caps.get("p2p") if link_caps is not None else None
        ports.append(NvLinkPort(
            link=link,
            state=NvLinkState.INACTIVE if gbps is None else NvLinkState.ACTIVE,
            speed_gbps=Unknown("link inactive") if gbps is None else gbps,
            errors=_errors(counters) if counters is not None else NvLinkErrors(),
            p2p_supported=Unknown("not in nvlink -c") if p2p_cap is None else p2p_cap,
        ))
    return tuple(ports)


def _errors(counters: Mapping[str, int]) -> NvLinkErrors:
    def get(*names: str) -> Maybe[int]:
        for n in names:
            if n in counters:
                return counters[n]
        return Unknown("not in nvlink -e")

    # Pre-Blackwell drivers print one "CRC Errors" counter: the flit CRC (NVML's DL_CRC_FLIT).
    return NvLinkErrors(replay=get("replay"), recovery=get("recovery"),
                        crc_flit=get("crc_flit", "crc"), crc_data=get("crc_data"))


_HasIndex = TypeVar("_HasIndex", NvlinkStatusGpu, NvlinkErrorsGpu, NvlinkCapsGpu, QueryGpuRow)


def _by_index(rows: tuple[_HasIndex, ...] | None) -> dict[int, _HasIndex]:
    return {row.index: row for row in rows or ()}


def _ports_unread(index: int, parts: SmiParts, status: Mapping[int, NvlinkStatusGpu]) -> str | None:
    if parts.nvlink_status is None:
        return f"NVLink port states not read: {parts.why_missing(NVLINK_STATUS)}"
    if index not in status:
        return f"NVLink port states not read: GPU{index} is not in the `nvidia-smi nvlink --status` output"
    return None


def build_gpus(parts: SmiParts) -> tuple[Gpu, ...]:
    topo = parts.topo
    query = _by_index(parts.query)
    status = _by_index(parts.nvlink_status)
    no_query = parts.why_missing(QUERY_GPU) if parts.query is None else "not in query-gpu"
    gpus = []
    for index in topo.gpus:
        row = query.get(index)
        st = status.get(index)
        name = row.name if row is not None else st.name if st is not None else "unknown GPU"
        uuid = row.uuid if row is not None else st.uuid if st is not None else None
        gpus.append(Gpu(
            index=index,
            name=name,
            uuid=_known(uuid, no_query),
            pci_bus_id=_known(row.pci_bus_id if row else None, no_query),
            memory_mib=_known(row.memory_mib if row else None, no_query),
            numa_node=_known(topo.numa_affinity.get(index), "no NUMA affinity in topo -m"),
            cpu_affinity=_known(topo.cpu_affinity.get(index), "no CPU affinity in topo -m"),
            nvlinks=_ports(index, parts),
            nvlinks_unread=_ports_unread(index, parts, status),
            pcie=Pcie(
                gen_current=_known(row.pcie_gen_current if row else None, no_query),
                gen_max=_known(row.pcie_gen_max if row else None, no_query),
                width_current=_known(row.pcie_width_current if row else None, no_query),
                width_max=_known(row.pcie_width_max if row else None, no_query),
            ),
        ))
    return tuple(gpus)


def attach_fabric(gpus: tuple[Gpu, ...], query: QueryFabric | None) -> tuple[tuple[Gpu, ...], list[str]]:
    """Each GPU's Fabric block from `nvidia-smi -q`, matched by PCI bus id (by order when the GPUs' bus ids
    are not known: `nvidia-smi -q` lists GPUs in index order)."""
    if query is None:
        return gpus, []
    notes = list(query.notes)
    by_bus = {b.bus_id: b for b in query.gpus if b.bus_id}
    out = []
    for pos, g in enumerate(gpus):
        block = by_bus.get(g.pci_bus_id.upper()) if isinstance(g.pci_bus_id, str) else None
        if block is None and not isinstance(g.pci_bus_id, str) and pos < len(query.gpus):
            block = query.gpus[pos]
        if block is None:
            notes.append(f"{g.label}: not found in nvidia-smi -q; fabric not read")
            out.append(g)
            continue
        name = block.name if g.name == "unknown GPU" and block.name else g.name
        bus = g.pci_bus_id if isinstance(g.pci_bus_id, str) or not block.bus_id else block.bus_id
        virt = g.virtualization if block.virtualization is None else block.virtualization
        out.append(replace(g, name=name, pci_bus_id=bus, fabric=block.fabric, virtualization=virt))
    return tuple(out), notes


def vm_without_nvlink(gpus: tuple[Gpu, ...], parts: SmiParts) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    """`nvidia-smi nvlink --status` answered with nothing (exit 0, empty output) and `nvidia-smi -q` says the
    GPU runs in a VM: the driver exposes no NVLink port, a definite answer (port states read: none).

    Anywhere else an empty answer stays "port states not read" (a bare-metal NVLink GPU always lists its
    ports). When every GPU is in a VM, the "empty text" notes of the `nvlink` outputs give way to one note
    saying why they are empty; the other notes are kept."""
    if NVLINK_STATUS not in parts.empty:
        return gpus, parts.notes
    vm = [g for g in gpus if in_vm(g) and not g.nvlinks and g.nvlinks_unread is not None]
    if not vm:
        return gpus, parts.notes
    out = tuple(replace(g, nvlinks_unread=None) if g in vm else g for g in gpus)
    notes = parts.notes
    if len(vm) == len(gpus):
        dropped = {parts.empty[n] for n in (NVLINK_STATUS, NVLINK_ERRORS, NVLINK_CAPS) if n in parts.empty}
        notes = tuple(n for n in notes if n not in dropped)
    why = f"{NVLINK_STATUS} is empty (`nvidia-smi nvlink --status` printed nothing): {not_exposed_reason(vm)}"
    return out, (*notes, why)


def pair_inputs(parts: SmiParts) -> tuple[dict[tuple[int, int], Maybe[str]], dict[tuple[int, int], int],
                                          dict[tuple[int, int], dict[str, str]]]:
    """`topo -m` cells and P2P matrices as `model.links.build_links` wants them, keyed (i, j) with i < j."""
    topo = parts.topo
    pcie_paths: dict[tuple[int, int], Maybe[str]] = {}
    nvlink_counts: dict[tuple[int, int], int] = {}
    p2p: dict[tuple[int, int], dict[str, str]] = {}
    unseen = _unseen_reason(topo)
    for x, i in enumerate(topo.gpus):
        for j in topo.gpus[x + 1:]:
            key = (min(i, j), max(i, j))
            cell = topo.path(f"GPU{i}", f"GPU{j}")
            if cell is None:
                pcie_paths[key] = Unknown(unseen)
                continue
            n = path_nvlinks(cell)
            nvlink_counts[key] = n
            pcie_paths[key] = Unknown("topo -m shows NVLink, not the PCIe path under it") if n else cell
            detail = {}
            for capability, matrix in parts.p2p.items():
                code = matrix.cells.get(key) or matrix.cells.get((key[1], key[0]))
                if code is not None:
                    detail[capability] = code
            if detail:
                p2p[key] = detail
    return pcie_paths, nvlink_counts, p2p


def _unseen_reason(topo: TopoMatrix) -> str:
    """Why a GPU pair has no `topo -m` cell: the rows stop early (a cut capture), or the cell is absent."""
    rows = [r for r in topo.rows_present if r.startswith("GPU")]
    if topo.header_present and rows and len(rows) < len(topo.gpus):
        return (f"`topo -m` rows stop after {rows[-1]} ({len(rows)} of the {len(topo.gpus)} GPUs its header "
                f"names): the capture is cut short")
    return "cell missing in topo -m"


def build_nics(parts: SmiParts) -> tuple[tuple[Nic, ...], dict[tuple[int, int], str]]:
    topo = parts.topo
    nics = tuple(Nic(index=n, name=_known(topo.nic_names.get(n), "no NIC legend in topo -m"))
                 for n in topo.nics)
    paths: dict[tuple[int, int], str] = {}
    for g in topo.gpus:
        for n in topo.nics:
            cell = topo.path(f"GPU{g}", f"NIC{n}")
            if cell is not None:
                paths[(g, n)] = cell
    return nics, paths


def build_topology(parts: SmiParts, *, host: str, source: str, captured_at: str,
                   notes: tuple[str, ...] = (), baseline: Topology | None = None,
                   probe_duration_seconds: float | None = None) -> Topology:
    """Join the parts into a Topology; the link graph comes from `model.links.build_links`, the coverage
    record (what this capture can and cannot support) from `model.coverage`."""
    from tpdoctor.model.coverage import with_coverage
    from tpdoctor.model.links import build_links

    gpus, fabric_notes = attach_fabric(build_gpus(parts), parts.fabric)
    gpus, parts_notes = vm_without_nvlink(gpus, parts)
    pcie_paths, nvlink_counts, p2p = pair_inputs(parts)
    nics, nic_paths = build_nics(parts)
    links, link_notes = build_links(gpus, pcie_paths, nvlink_counts, p2p=p2p, nics=nics,
                                    nic_paths=nic_paths, baseline=baseline)
    extra: dict[str, Any] = {"nvlink_domain": node_domain(gpus)}
    if probe_duration_seconds is not None:
        extra["probe_duration_seconds"] = probe_duration_seconds
    if parts.fabric is not None and parts.fabric.driver_version:
        extra["driver_version"] = parts.fabric.driver_version
    if parts.fabric is not None and parts.fabric.cuda_version:
        extra["cuda_version"] = parts.fabric.cuda_version
    return with_coverage(Topology(
        host=host,
        source=source,
        captured_at=captured_at,
        gpus=gpus,
        nics=nics,
        links=links,
        probe_notes=tuple(notes) + parts_notes + tuple(fabric_notes) + tuple(link_notes),
        **extra,
    ))
