"""Join what `nvidia-smi -q`, the MIG query and the notice lines of every command say onto the GPUs that
`topo -m` and `--query-gpu` gave: each GPU's Fabric block, virtualization mode, health and MIG mode (matched by
PCI bus id, by order when bus ids are not known), infoROM warnings, and the GPUs nvidia-smi names but cannot
read (`MissingGpu`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tpdoctor.model.health import GpuHealth, MissingGpu
from tpdoctor.model.topology import Gpu
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes.smi_fabric import QueryFabric
from tpdoctor.probes.smi_health import GpuQuery, QueryHealth
from tpdoctor.probes.smi_notices import Notice, normalize_bus_id
from tpdoctor.probes.smi_types import MigRow


def _bus(g: Gpu) -> str | None:
    return normalize_bus_id(g.pci_bus_id) if isinstance(g.pci_bus_id, str) else None


def attach_query(gpus: tuple[Gpu, ...], query: QueryFabric | None, health: QueryHealth | None
                 ) -> tuple[tuple[Gpu, ...], list[str]]:
    """Each GPU's `-q` section: Fabric block, virtualization mode, health, MIG mode; matched by PCI bus id (by
    order when the GPUs' bus ids are not known: `nvidia-smi -q` lists GPUs in index order)."""
    if query is None and health is None:
        return gpus, []
    notes = list(query.notes) if query is not None else []
    notes += list(health.notes) if health is not None else []
    by_bus = {normalize_bus_id(b.bus_id): b for b in (query.gpus if query else ()) if b.bus_id}
    healths = health.by_bus() if health is not None else {}
    order = [h for h in (health.gpus if health else ())]
    out = []
    for pos, g in enumerate(gpus):
        bus = _bus(g)
        block = by_bus.get(bus) if bus else None
        if block is None and bus is None and query is not None and pos < len(query.gpus):
            block = query.gpus[pos]
        hq: GpuQuery | None = healths.get(bus) if bus else (order[pos] if pos < len(order) else None)
        if block is None and hq is None:
            notes.append(f"{g.label}: not found in nvidia-smi -q; fabric and health not read")
            out.append(g)
            continue
        changes: dict[str, object] = {}
        if block is not None:
            name = block.name if g.name == "unknown GPU" and block.name else g.name
            changes.update(name=name, fabric=block.fabric,
                           virtualization=g.virtualization if block.virtualization is None else block.virtualization)
            if not isinstance(g.pci_bus_id, str) and block.bus_id:
                changes["pci_bus_id"] = block.bus_id
        if hq is not None:
            changes["health"] = hq.health
            if isinstance(g.mig, Unknown):
                changes["mig"] = hq.mig
            if isinstance(g.uuid, Unknown) and hq.uuid:
                changes["uuid"] = hq.uuid
            if isinstance(g.pci_bus_id, Unknown) and "pci_bus_id" not in changes:
                changes["pci_bus_id"] = hq.bus_id
        out.append(replace(g, **changes))  # type: ignore[arg-type]
    return tuple(out), notes


def attach_mig(gpus: tuple[Gpu, ...], rows: tuple[MigRow, ...] | None) -> tuple[tuple[Gpu, ...], list[str]]:
    """MIG mode from `--query-gpu=index,uuid,mig.mode.current,mig.mode.pending`, matched by UUID, else index.
    Where `-q` and this query disagree (seen in the field: dra-driver-nvidia-gpu#852) the GPU is taken as in MIG
    mode, the reading that keeps tensor-parallel groups off it, and a note says so."""
    if not rows:
        return gpus, []
    notes: list[str] = []
    by_uuid = {r.uuid: r for r in rows if r.uuid}
    by_index = {r.index: r for r in rows}
    out = []
    for g in gpus:
        row = by_uuid.get(g.uuid) if isinstance(g.uuid, str) else None
        row = row or (by_index.get(g.index) if not by_uuid or not isinstance(g.uuid, str) else None)
        if row is None:
            out.append(g)
            continue
        mig: Maybe[bool] = False if row.current is None else row.current  # [N/A]: a GPU without MIG
        if isinstance(g.mig, bool) and g.mig != mig:
            notes.append(f"{g.label}: MIG mode {'enabled' if g.mig else 'disabled'} in nvidia-smi -q, "
                         f"{'enabled' if mig else 'disabled'} in the MIG query; taken as enabled (no NVLink, "
                         "no P2P) until they agree")
            mig = True
        health = g.health
        if row.pending is not None:  # current and pending from one reading, so a disagreement fakes no change
            base = health if isinstance(health, GpuHealth) else GpuHealth(source="nvidia-smi --query-gpu")
            health = replace(base, mig_pending=row.pending or (mig is True and row.current is None))
        out.append(replace(g, mig=mig, health=health))
    return tuple(out), notes


def apply_notices(gpus: tuple[Gpu, ...], notices: Iterable[tuple[str, Notice]]
                  ) -> tuple[tuple[Gpu, ...], tuple[MissingGpu, ...], str | None, list[str]]:
    """infoROM warnings onto their GPUs; GPUs nvidia-smi cannot get a handle for (by bus id) as missing, or, when
    another command did read a GPU of that bus id, that GPU as lost; the driver's node-wide message."""
    by_bus = {b: g for g in gpus if (b := _bus(g)) is not None}
    changed: dict[int, Gpu] = {}
    missing: dict[str, MissingGpu] = {}
    driver: str | None = None
    notes: list[str] = []
    for command, notice in notices:
        if notice.kind in ("no_devices", "no_driver"):
            driver = driver or notice.line
            continue
        bus = notice.bus_id or ""
        g = changed.get(by_bus[bus].index) if bus in by_bus and by_bus[bus].index in changed else by_bus.get(bus)
        if notice.kind == "inforom":
            if g is None:
                notes.append(f"`{command}`: {notice.line} (no GPU of that bus id was read)")
                continue
            base = g.health if isinstance(g.health, GpuHealth) else GpuHealth(source="nvidia-smi warning")
            changed[g.index] = replace(g, health=replace(base, inforom_corrupted=True))
        elif notice.kind == "device_handle":
            if g is not None:
                changed[g.index] = replace(g, status="lost", status_reason=f"`{command}` says: {notice.line}")
            elif bus not in missing:
                missing[bus] = MissingGpu(bus_id=bus, reason=f"nvidia-smi says: {notice.line}", source="driver",
                                          command=command)
    out = tuple(changed.get(g.index, g) for g in gpus)
    return out, tuple(missing.values()), driver, notes
