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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tpdoctor.model import skus
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
from tpdoctor.probes.smi_attach import apply_notices, attach_mig, attach_query
from tpdoctor.probes.smi_fabric import QueryFabric, parse_query_fabric
from tpdoctor.probes.smi_health import QueryHealth, parse_query_health
from tpdoctor.probes.smi_notices import Notice, split_notices
from tpdoctor.probes.smi_query import parse_mig_csv
from tpdoctor.probes.smi_types import (
    MigRow,
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
QUERY_FULL = "query.txt"  # `nvidia-smi -q`: each GPU's Fabric block, health, MIG mode; the driver version
MIG_QUERY = "mig.csv"  # `nvidia-smi --query-gpu=index,uuid,mig.mode.current,mig.mode.pending --format=csv`
HOST = "host.txt"
SNAPSHOT = "snapshot.json"
RUNNING_FILE = "running.json"  # probes/running.py: the discovered table and processes, redacted, for replay


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
    health: QueryHealth | None = None  # `nvidia-smi -q`: each GPU's health and MIG mode
    mig: tuple[MigRow, ...] | None = None  # the MIG query
    # (command or file, notice): lines nvidia-smi printed about a GPU or the driver in any output (smi_notices)
    notices: tuple[tuple[str, Notice], ...] = ()

    def why_missing(self, name: str) -> str:
        return self.missing.get(name) or f"{name} not in the capture"


T = TypeVar("T")
_GPU_LABEL = re.compile(r"\bGPU\d+\b")


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
    found: list[tuple[str, Notice]] = []
    clean: dict[str, str] = {}
    for name, raw in texts.items():
        clean[name], notices = split_notices(raw)
        found += [(source(name), n) for n in notices]
    texts = clean
    topo = _topo(texts[TOPO_M], source(TOPO_M), found)
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
        health=optional(QUERY_FULL, parse_query_health),
        mig=optional(MIG_QUERY, parse_mig_csv),
        notes=tuple(notes),
        missing=why,
        empty=empty,
        notices=_unique(found),
    )


def _topo(text: str, source: str, notices: list[tuple[str, Notice]]) -> TopoMatrix:
    """`topo -m`; when nvidia-smi printed no matrix (no `GPU<n>` anywhere: nothing, or a pasted prompt) but lines
    about GPUs it cannot read, the node has no readable GPU and those lines are the evidence: an empty matrix,
    not a parse error."""
    if any(n.kind == "device_handle" for _, n in notices) and not _GPU_LABEL.search(text):
        return TopoMatrix(gpus=(), notes=("`topo -m` printed no matrix, only lines about GPUs it cannot read",))
    return smi.parse_topo_m(text, source=source)


def _unique(found: list[tuple[str, Notice]]) -> tuple[tuple[str, Notice], ...]:
    """One notice per (kind, GPU): every command repeats them."""
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for command, n in found:
        key = (n.kind, n.bus_id, n.line if n.bus_id is None else "")
        if key not in seen:
            seen.add(key)
            out.append((command, n))
    return tuple(out)


def _known(value: T | None, reason: str) -> Maybe[T]:
    return Unknown(reason) if value is None else value


def _ports(index: int, parts: SmiParts, name: str) -> tuple[NvLinkPort, ...]:
    status = _by_index(parts.nvlink_status).get(index)
    if status is None:
        return ()
    if status.all_inactive and not status.links:
        # "Unable to retrieve NVLink information as all links are inActive": every port the SKU has is dark
        sku = skus.lookup(name)
        count = sku.nvlink.ports if sku is not None and sku.has_nvlink else 0
        return tuple(NvLinkPort(link=k, state=NvLinkState.INACTIVE, speed_gbps=Unknown("link inactive"))
                     for k in range(count))
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


def _ports_unread(index: int, parts: SmiParts, status: Mapping[int, NvlinkStatusGpu], name: str) -> str | None:
    """Why the ports are not known; for "all links are inActive" on a GPU the SKU catalogue does not know,
    that the GPU has NVLink (all of it down) but not how many ports: never "no NVLink port"."""
    if parts.nvlink_status is None:
        return f"NVLink port states not read: {parts.why_missing(NVLINK_STATUS)}"
    st = status.get(index)
    if st is None:
        return f"NVLink port states not read: GPU{index} is not in the `nvidia-smi nvlink --status` output"
    if st.all_inactive and not st.links and skus.lookup(name) is None:
        return (f"NVLink ports not known: `nvidia-smi nvlink --status` says all links of GPU{index} are inActive, "
                f"and the {name} is not in the SKU catalogue (how many ports it has)")
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
        problem = row.problem if row is not None else None
        gpus.append(Gpu(
            index=index,
            name=name if name else "unknown GPU",
            status="ok" if problem is None else ("lost" if "lost" in problem.lower() else "error"),
            status_reason=None if problem is None else f"`nvidia-smi --query-gpu` reads {problem}",
            uuid=_known(uuid, no_query),
            pci_bus_id=_known(row.pci_bus_id if row else None, no_query),
            memory_mib=_known(row.memory_mib if row else None, no_query),
            numa_node=_known(topo.numa_affinity.get(index), "no NUMA affinity in topo -m"),
            cpu_affinity=_known(topo.cpu_affinity.get(index), "no CPU affinity in topo -m"),
            nvlinks=_ports(index, parts, name or "unknown GPU"),
            nvlinks_unread=_ports_unread(index, parts, status, name or "unknown GPU"),
            pcie=Pcie(
                gen_current=_known(row.pcie_gen_current if row else None, no_query),
                gen_max=_known(row.pcie_gen_max if row else None, no_query),
                width_current=_known(row.pcie_width_current if row else None, no_query),
                width_max=_known(row.pcie_width_max if row else None, no_query),
            ),
        ))
    return tuple(gpus)


def vm_without_nvlink(gpus: tuple[Gpu, ...], parts: SmiParts) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    """`nvidia-smi nvlink --status` answered with nothing (exit 0, empty output) and `nvidia-smi -q` says the
    GPU runs in a VM: the driver exposes no NVLink port, a definite answer (port states read: none).

    So is it for a named GPU the SKU catalogue does not know (a Quadro P4000): nvidia-smi lists the ports of every
    NVLink GPU it knows, even unbridged ones (`<inactive>`, "all links are inActive"), and prints nothing for a
    GPU without NVLink (gpud's A10 capture). A known NVLink SKU on bare metal stays "port states not read" (its
    ports always list). When every GPU is in a VM, the "empty text" notes of the `nvlink` outputs give way to
    one note saying why they are empty; the other notes are kept."""
    if NVLINK_STATUS not in parts.empty:
        return gpus, parts.notes
    vm = [g for g in gpus if in_vm(g) and not g.nvlinks and g.nvlinks_unread is not None]
    unknown = [g for g in gpus if g not in vm and not g.nvlinks and g.nvlinks_unread is not None
               and g.name not in ("unknown GPU", "unknown") and skus.lookup(g.name) is None]
    if not vm and not unknown:
        return gpus, parts.notes
    out = tuple(replace(g, nvlinks_unread=None) if g in vm or g in unknown else g for g in gpus)
    notes = parts.notes
    if len(vm) + len(unknown) == len(gpus):
        dropped = {parts.empty[n] for n in (NVLINK_STATUS, NVLINK_ERRORS, NVLINK_CAPS) if n in parts.empty}
        notes = tuple(n for n in notes if n not in dropped)
    empty = f"{NVLINK_STATUS} is empty (`nvidia-smi nvlink --status` printed nothing)"
    why = [f"{empty}: {not_exposed_reason(vm)}"] if vm else []
    if unknown:
        why.append(f"{empty}: {', '.join(g.label for g in unknown)} ({unknown[0].name}, not in the SKU catalogue) "
                   "has no NVLink port the driver knows of")
    return out, (*notes, *why)


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

    gpus, fabric_notes = attach_query(build_gpus(parts), parts.fabric, parts.health)
    gpus, mig_notes = attach_mig(gpus, parts.mig)
    gpus, missing, driver_message, notice_notes = apply_notices(gpus, parts.notices)
    fabric_notes += mig_notes + notice_notes
    if parts.health is None:
        why = Unknown(f"GPU health not read: {parts.why_missing(QUERY_FULL)}")
        gpus = tuple(replace(g, health=why) if isinstance(g.health, Unknown) else g for g in gpus)
    gpus, parts_notes = vm_without_nvlink(gpus, parts)
    pcie_paths, nvlink_counts, p2p = pair_inputs(parts)
    nics, nic_paths = build_nics(parts)
    links, link_notes = build_links(gpus, pcie_paths, nvlink_counts, p2p=p2p, nics=nics,
                                    nic_paths=nic_paths, baseline=baseline)
    extra: dict[str, Any] = {"nvlink_domain": node_domain(gpus), "missing": missing,
                             "driver_message": driver_message}
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
