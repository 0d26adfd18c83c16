"""Node-scope facts about what the driver says beyond the links (rules TPD130-TPD143): GPUs it cannot read
(the `missing` subject), each GPU's health (`-q` / NVML: model/health.py), its dark NVLink ports judged by board
class, and how much of the node the check sees. Merged into the `gpu` and `node` subjects of `node/facts.py`.
"""

from __future__ import annotations

from typing import Any

from tpdoctor.engine.schema import INT, B, F, Fact, L, S, SubjectSchema
from tpdoctor.model import skus
from tpdoctor.model.health import GpuHealth, MissingGpu
from tpdoctor.model.topology import Gpu, NvLinkState, Topology
from tpdoctor.model.unknown import Unknown

CLOCK_EVENTS = (("clocks_hw_slowdown", "HW slowdown"), ("clocks_hw_power_brake", "HW power brake"),
                ("clocks_hw_thermal", "HW thermal slowdown"), ("clocks_sw_thermal", "SW thermal slowdown"))

GPU_HEALTH_FACTS: dict[str, Fact] = {
    "uuid": Fact(S, "The GPU's UUID (its identity, with the bus id).", True),
    "health_read": Fact(B, "The driver's health answer was read (`nvidia-smi -q` or NVML)."),
    "remap_pending": Fact(B, "Rows wait for a GPU reset to be remapped (Remapped Rows / Pending).", True),
    "remap_failed": Fact(B, "Row remapping failed: no spare row left (Remapping Failure Occurred).", True),
    "remap_uncorrectable": Fact(INT, "Rows remapped for uncorrectable errors.", True),
    "retired_pages_pending": Fact(B, "Pages wait for a reset to be retired (pre-Ampere: Pending Page "
                                  "Blacklist / Retirement).", True),
    "ecc_volatile_uncorrectable": Fact(INT, "Uncorrectable ECC errors since the driver loaded (DRAM + SRAM).",
                                       True),
    "reset_required": Fact(B, "The driver says the GPU needs a reset (Reset Required, or a reset/reboot "
                           "recovery action).", True),
    "drain_recommended": Fact(B, "The driver recommends draining and resetting the GPU.", True),
    "recovery_action": Fact(S, "GPU Recovery Action (driver 570+): none, gpu_reset, node_reboot, drain_p2p, "
                            "drain_and_reset ...", True),
    "clock_events": Fact(L, "Clock event reasons active now that mean hardware trouble: HW slowdown, HW power "
                         "brake, HW thermal slowdown, SW thermal slowdown."),
    "clock_events_text": Fact(S, "Those in words, `HW slowdown, HW power brake`; null when none.", True),
    "mig_change_pending": Fact(B, "The MIG mode after the next GPU reset differs from the current one.", True),
    "mig_pending_mode": Fact(S, "The MIG mode after the next reset: enabled or disabled.", True),
    "inforom_corrupted": Fact(B, "nvidia-smi warned that this GPU's infoROM is corrupted."),
    "nvlinks_short": Fact(INT, "NVLink ports this GPU's board needs up that are not: on NVSwitch and mesh boards "
                          "every port must be up, on bridge cards the bridged set (the SKU's expected count) once "
                          "any port is up; 0 on a MIG GPU (links off by design), with no port up (TPD111, TPD110) "
                          "or no NVLink."),
    "nvlinks_dark_text": Fact(S, "Which: `links 3, 5 inactive` (NVSwitch, mesh), `11 of the bridged 12 up` "
                              "(bridges); null when none are short.", True),
    "nvlink_ports_needed": Fact(INT, "Ports this GPU's board needs up (the SKU's ports, or its bridged set).", True),
    "nvlink_dark_gbps": Fact(F, "Per-direction NVLink bandwidth the dark ports take away (SKU link rate x ports).",
                             True),
}

MISSING = SubjectSchema("missing", "A GPU the driver or the node's baseline knows of that nothing can read now. "
                        "`id` is `GPU <bus id>` (or `GPU <UUID>`).", {
    "described": Fact(S, "The GPU by everything known of it: `GPU 00000000:0B:00.0 (GPU-3e34..., NVIDIA GeForce "
                      "RTX 2080 Ti, GPU1 in the baseline)`."),
    "bus_id": Fact(S, "PCI bus id, `00000000:0B:00.0`.", True),
    "uuid": Fact(S, "UUID, when the baseline recorded it.", True),
    "name": Fact(S, "Product name, when known.", True),
    "baseline_label": Fact(S, "What the baseline called it, `GPU1`; null without a baseline.", True),
    "reason": Fact(S, "What says it is missing: the driver's line, or the baseline."),
    "source": Fact(S, "driver (nvidia-smi or NVML named it) or baseline (the baseline had it, nothing lists it)."),
    "command": Fact(S, "The command whose output named it (empty for the baseline)."),
    "folded_under": Fact(S, "`node` when no GPU is readable at all and the driver said why (TPD131); null "
                         "otherwise.", True),
})

NODE_HEALTH_FACTS: dict[str, Fact] = {
    "gpus_readable": Fact(INT, "GPUs read fine (status ok)."),
    "gpus_missing": Fact(INT, "GPUs the driver or the baseline knows of that nothing can read (`missing`)."),
    "gpus_missing_list": Fact(L, "Those GPUs: `GPU 00000000:0B:00.0 (GPU-3e34...)`."),
    "driver_message": Fact(S, "What nvidia-smi said instead of listing GPUs (`No devices were found`); null when "
                           "it listed them.", True),
    "view_scope": Fact(S, "How much of the node this check sees: node, or subset (a container given some GPUs); "
                       "null when not known (a capture).", True),
    "view_reason": Fact(S, "Why it is a subset, `NVIDIA_VISIBLE_DEVICES=1`.", True),
}


def clock_events(h: GpuHealth) -> list[str]:
    return [words for attr, words in CLOCK_EVENTS if getattr(h, attr) is True]


def dark_ports(g: Gpu, kind: str) -> tuple[int, str | None, int | None]:
    """(ports short, which in words, ports needed) for the ports this GPU's board needs up: on NVSwitch and mesh
    boards every port the GPU lists; on bridge cards the bridged set (its SKU's expected count) once any port is
    up (12 of 18 is an H100 NVL's normal). Nothing off-NVLink, on a MIG GPU (links off by design), when the ports
    were not read, or when none is up (one GPU fault or the fabric: TPD111, TPD110)."""
    sku = skus.lookup(g.name)
    if sku is None or not sku.has_nvlink or g.mig is True or g.nvlinks_unread is not None or not g.nvlinks:
        return 0, None, None
    inactive = [p.link for p in g.nvlinks if p.state is NvLinkState.INACTIVE]
    active = sum(1 for p in g.nvlinks if p.state is NvLinkState.ACTIVE)
    if not active:
        return 0, None, None
    if kind in ("switch", "mesh") and sku.nvlink.topology in ("switch", "mesh"):
        needed = max(sku.nvlink.expected, len(g.nvlinks)) if sku.nvlink.topology == "switch" else len(g.nvlinks)
        short = needed - active
        words = f"link{'s' if len(inactive) > 1 else ''} {', '.join(map(str, inactive))} inactive" if short else None
        return max(short, 0), words, needed
    if sku.nvlink.topology == "bridge":
        needed = sku.nvlink.expected
        short = max(needed - active, 0)
        return short, (f"{active} of the bridged {needed} up" if short else None), needed
    return 0, None, None


def gpu_health(g: Gpu, kind: str) -> dict[str, Any]:
    h = g.health
    short, words, needed = dark_ports(g, kind)
    sku = skus.lookup(g.name)
    rate = sku.nvlink.link_gbps if sku is not None and sku.nvlink.link_gbps else None
    facts: dict[str, Any] = {
        "uuid": g.uuid,
        "nvlinks_short": short,
        "nvlinks_dark_text": words,
        "nvlink_ports_needed": needed,
        "nvlink_dark_gbps": round(rate * short, 3) if rate and short else None,
    }
    if not isinstance(h, GpuHealth):
        why = Unknown(h.reason)
        names = [n for n in GPU_HEALTH_FACTS if n not in facts and n not in ("health_read", "clock_events",
                                                                              "clock_events_text", "inforom_corrupted")]
        return {**facts, **dict.fromkeys(names, why), "health_read": False, "clock_events": [],
                "clock_events_text": None, "inforom_corrupted": False}
    events = clock_events(h)
    pending = h.mig_pending
    return {
        **facts,
        "health_read": h.source != "nvidia-smi warning",
        "remap_pending": h.remap_pending, "remap_failed": h.remap_failed,
        "remap_uncorrectable": h.remap_uncorrectable, "retired_pages_pending": h.retired_pending,
        "ecc_volatile_uncorrectable": h.ecc_volatile_uncorrectable, "reset_required": h.reset_required,
        "drain_recommended": h.drain_recommended, "recovery_action": h.recovery_action,
        "clock_events": events, "clock_events_text": ", ".join(events) if events else None,
        "mig_change_pending": (pending != g.mig) if isinstance(pending, bool) and isinstance(g.mig, bool)
        else (pending if isinstance(pending, Unknown) else Unknown(str(getattr(g.mig, "reason", "MIG not read")))),
        "mig_pending_mode": ("enabled" if pending else "disabled") if isinstance(pending, bool) else pending,
        "inforom_corrupted": h.inforom_corrupted,
    }


def describe(m: MissingGpu) -> str:
    """`GPU 00000000:0B:00.0 (GPU-3e34..., NVIDIA GeForce RTX 2080 Ti, GPU1 in the baseline)`."""
    known = [x for x in (m.uuid, m.name) if isinstance(x, str)]
    known += [f"GPU{m.baseline_index} in the baseline"] if m.baseline_index is not None else []
    return m.ident + (f" ({', '.join(known)})" if known else "")


def missing_ident(m: MissingGpu) -> str:
    return m.ident + (f" ({m.uuid})" if isinstance(m.uuid, str) else "")


def node_health(topology: Topology) -> dict[str, Any]:
    view = topology.view
    return {
        "gpus_readable": sum(1 for g in topology.gpus if g.status == "ok"),
        "gpus_missing": len(topology.missing),
        "gpus_missing_list": [missing_ident(m) for m in topology.missing],
        "driver_message": topology.driver_message,
        "view_scope": view.scope if view is not None else None,
        "view_reason": view.reason if view is not None and view.scope == "subset" else None,
    }


def missing_subjects(topology: Topology) -> list[tuple[str, dict[str, Any]]]:
    folded = "node" if (topology.driver_message and not any(g.status == "ok" for g in topology.gpus)
                        and all(m.source == "baseline" for m in topology.missing)) else None
    return [(m.ident, {
        "described": describe(m),
        "bus_id": m.bus_id, "uuid": m.uuid, "name": m.name,
        "baseline_label": f"GPU{m.baseline_index}" if m.baseline_index is not None else None,
        "reason": m.reason, "source": m.source, "command": m.command, "folded_under": folded,
    }) for m in topology.missing]
