"""Merge the NVML and nvidia-smi views of one node: NVML first, nvidia-smi fills the gaps.

NVML answers in structured values and sees more (remote bus ids, fabric, PCIe max generation); nvidia-smi
adds what NVML cannot enumerate (NICs and GPU–NIC paths) and covers fields NVML refused. Where the two
disagree on a GPU pair's path, the NVML link is kept, both readings go into `Link.evidence["paths"]`
and a probe note says so: a disagreement is itself a finding-worthy fact (a flapping link, a driver
bug), never silently resolved.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

from tpdoctor.model.coverage import with_coverage
from tpdoctor.model.fabric import node_domain
from tpdoctor.model.health import GpuHealth, MissingGpu
from tpdoctor.model.topology import Gpu, Link, NvLinkPort, Topology
from tpdoctor.model.unknown import Unknown

T = TypeVar("T")


def _fill(primary: T, secondary: T) -> T:
    """Copy of `primary` whose Unknown fields take `secondary`'s known value (dataclasses, one level)."""
    changes: dict[str, Any] = {}
    for f in fields(primary):  # type: ignore[arg-type]
        mine, theirs = getattr(primary, f.name), getattr(secondary, f.name)
        if isinstance(mine, Unknown) and not isinstance(theirs, Unknown):
            changes[f.name] = theirs
    return replace(primary, **changes) if changes else primary  # type: ignore[type-var]


def _merge_ports(nvml: tuple[NvLinkPort, ...], smi: tuple[NvLinkPort, ...]) -> tuple[NvLinkPort, ...]:
    if not nvml:
        return smi
    by_link = {p.link: p for p in smi}
    out = []
    for p in nvml:
        other = by_link.get(p.link)
        if other is not None:
            p = _fill(p, other)
            p = replace(p, errors=_fill(p.errors, other.errors))
        out.append(p)
    return tuple(out)


def _merge_gpu(nvml: Gpu, smi: Gpu, notes: list[str]) -> Gpu:
    for attr in ("uuid", "pci_bus_id"):
        a, b = getattr(nvml, attr), getattr(smi, attr)
        if isinstance(a, str) and isinstance(b, str) and a.upper() != b.upper():
            notes.append(f"GPU{nvml.index}: NVML {attr} {a} but nvidia-smi {b}: the two probes may not "
                         "number GPUs the same way")
    if nvml.status != "ok":
        return nvml  # a lost GPU stays lost: nvidia-smi ran at another moment
    merged = _fill(nvml, smi)
    unread = nvml.nvlinks_unread if smi.nvlinks_unread is not None else None  # read by either is read
    fabric = nvml.fabric if smi.fabric is None else smi.fabric if nvml.fabric is None else \
        _fill(nvml.fabric, smi.fabric)
    health = merged.health
    if isinstance(health, GpuHealth) and isinstance(smi.health, GpuHealth):
        health = replace(_fill(health, smi.health), inforom_corrupted=health.inforom_corrupted
                         or smi.health.inforom_corrupted)  # only nvidia-smi prints the infoROM warning
    return replace(merged, pcie=_fill(nvml.pcie, smi.pcie), nvlinks=_merge_ports(nvml.nvlinks, smi.nvlinks),
                   nvlinks_unread=unread, fabric=fabric, health=health)


def _merge_link(nvml: Link, smi: Link | None, notes: list[str]) -> Link:
    if smi is None:
        return nvml
    if "unseen" in nvml.evidence and "unseen" not in smi.evidence and "gpu_status" not in nvml.evidence:
        # NVML could not count this pair's NVLinks (far ends or ports unreadable); nvidia-smi's `topo -m` did
        notes.append(f"{nvml.a}-{nvml.b}: NVLink count from nvidia-smi ({smi.path}); NVML could not count it "
                     f"({nvml.evidence['unseen']})")
        evidence = {**smi.evidence, "nvlinks_from": "nvidia-smi", "nvml_unseen": nvml.evidence["unseen"]}
        nvml = replace(nvml, path=smi.path, nvlinks=smi.nvlinks, nvlinks_expected=smi.nvlinks_expected,
                       health=smi.health, nominal_gbps=smi.nominal_gbps, evidence=evidence)
    link = nvml
    if isinstance(link.p2p, Unknown) and not isinstance(smi.p2p, Unknown):
        link = replace(link, p2p=smi.p2p)
    detail = {**smi.p2p_detail, **link.p2p_detail}
    if detail != link.p2p_detail:
        link = replace(link, p2p_detail=detail)
    if isinstance(link.pcie_path, Unknown) and isinstance(smi.pcie_path, str):
        link = replace(link, pcie_path=smi.pcie_path)
    if smi.path != nvml.path:
        evidence = {**link.evidence, "paths": {"nvml": nvml.path, "nvidia-smi": smi.path}}
        link = replace(link, evidence=evidence)
        notes.append(f"{nvml.a}-{nvml.b}: NVML reads {nvml.path}, nvidia-smi reads {smi.path}; "
                     f"kept NVML's (both in the link's evidence)")
    return link


def merge(nvml: Topology, smi: Topology) -> Topology:
    """One Topology from both probes of the same node (source stays "nvml")."""
    notes: list[str] = []
    smi_gpus = {g.index: g for g in smi.gpus}
    gpus = tuple(_merge_gpu(g, smi_gpus[g.index], notes) if g.index in smi_gpus else g for g in nvml.gpus)
    missing = sorted(set(smi_gpus) - {g.index for g in nvml.gpus})
    if missing or len(smi.gpus) != len(nvml.gpus):
        notes.append(f"NVML sees {len(nvml.gpus)} GPUs, nvidia-smi {len(smi.gpus)}")
    links = [_merge_link(lk, smi.link(lk.a, lk.b), notes) for lk in nvml.links]
    have = {(lk.a, lk.b) for lk in links}
    links += [lk for lk in smi.links if not lk.is_gpu_pair and (lk.a, lk.b) not in have]  # GPU–NIC paths
    duration = None
    if nvml.probe_duration_seconds is not None or smi.probe_duration_seconds is not None:
        duration = round((nvml.probe_duration_seconds or 0.0) + (smi.probe_duration_seconds or 0.0), 6)
    return with_coverage(replace(
        nvml,
        gpus=gpus,
        missing=_missing(nvml, smi, notes),
        driver_message=nvml.driver_message or smi.driver_message,
        nics=nvml.nics or smi.nics,
        links=tuple(links),
        driver_version=_first_known(nvml.driver_version, smi.driver_version),
        cuda_version=_first_known(nvml.cuda_version, smi.cuda_version),
        nvlink_domain=node_domain(gpus),
        imex=nvml.imex or smi.imex,
        probe_notes=(*nvml.probe_notes, *(f"nvidia-smi: {n}" for n in smi.probe_notes),
                     "merged with nvidia-smi (NVML first)", *notes),
        probe_duration_seconds=duration,
    ))


def _missing(nvml: Topology, smi: Topology, notes: list[str]) -> tuple[MissingGpu, ...]:
    """GPUs nvidia-smi could not get a handle for, unless NVML read (or lost) a GPU of that bus id."""
    seen = {str(g.pci_bus_id).upper()[-12:] for g in nvml.gpus if isinstance(g.pci_bus_id, str)}
    out = list(nvml.missing)
    for m in smi.missing:
        if isinstance(m.bus_id, str) and m.bus_id.upper()[-12:] in seen:
            notes.append(f"{m.ident}: nvidia-smi says {m.reason!r}, NVML reads that GPU")
        else:
            out.append(m)
    return tuple(out)


def _first_known(a: Any, b: Any) -> Any:
    return b if isinstance(a, Unknown) and not isinstance(b, Unknown) else a
