"""Evidence coverage: which checks a verdict on a snapshot can claim, and which it cannot.

A node verdict is a promise that every check it names was made. Each check below needs some evidence;
where the snapshot lacks it (a command that failed, hung or was not captured; a `topo -m` cut short; an
NVML field that would not read), the check is `not_made`, with the reason, the GPUs or pairs it could not
judge, and the command that would answer it. `node/verdict.py` turns any check not made into an UNKNOWN
part of the status; renderers print them. Coverage is derived from the snapshot itself (every probe
records what it could not read as an `Unknown` with its reason, and `Gpu.nvlinks_unread`), so a replayed
capture or an old report is judged exactly like a live read.

| check | needs | answered by |
|---|---|---|
| links | every GPU pair's NVLink count and an expectation for it | `nvidia-smi topo -m` (complete) |
| nvlink_ports | each NVLink GPU's port states (a VM may expose none) | `nvidia-smi nvlink --status` or NVML |
| gpu_info | each GPU's model and PCIe link (current and max width, max generation) | `nvidia-smi --query-gpu=...` |
| nvlink_errors | the error counters of every active NVLink | `nvidia-smi nvlink -e` |
| p2p | peer-to-peer status of every GPU pair | `nvidia-smi topo -p2p r` / `w` |
| fabric | NVSwitch fabric registration (Hopper and newer NVSwitch boards) | `nvidia-smi -q`, NVML |
| gpu_health | each GPU's row remapping or page retirement, volatile ECC, clock events, MIG | `nvidia-smi -q`, NVML |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tpdoctor.model import skus
from tpdoctor.model.health import NOT_SUPPORTED, GpuHealth, answered
from tpdoctor.model.links import is_switch_system
from tpdoctor.model.topology import Check, CheckState, Gpu, LinkHealth, NvLinkState, Topology
from tpdoctor.model.unknown import Unknown
from tpdoctor.model.virtualization import not_exposed_reason, nvlink_not_exposed

QUERY_GPU = ("nvidia-smi --query-gpu=index,name,pci.bus_id,pcie.link.gen.current,pcie.link.gen.max,"
             "pcie.link.width.current,pcie.link.width.max --format=csv")
COMMANDS = {
    "links": "nvidia-smi topo -m",
    "nvlink_ports": "nvidia-smi nvlink --status",
    "gpu_info": QUERY_GPU,
    "nvlink_errors": "nvidia-smi nvlink -e",
    "p2p": "nvidia-smi topo -p2p r; nvidia-smi topo -p2p w",
    "fabric": "nvidia-smi -q | grep -A3 Fabric",
    "gpu_health": "nvidia-smi -q",
}
WHAT = {
    "links": "GPU pair NVLink health",
    "nvlink_ports": "NVLink port states",
    "gpu_info": "GPU models and PCIe links",
    "nvlink_errors": "NVLink error counters",
    "p2p": "peer-to-peer status",
    "fabric": "NVSwitch fabric state",
    "gpu_health": "GPU health (row remapping, ECC, clock events, MIG)",
}
_FABRIC_ARCHS = ("hopper", "blackwell", "rubin")  # GpuFabricInfo exists from Hopper on
_UNNAMED = ("unknown", "unknown GPU")


def _made(name: str) -> Check:
    return Check(name, CheckState.MADE, WHAT[name])


def _na(name: str, reason: str) -> Check:
    return Check(name, CheckState.NOT_APPLICABLE, WHAT[name], reason=reason)


def _missing(name: str, reasons: Iterable[str], subjects: Iterable[str], command: str | None = None) -> Check:
    distinct = list(dict.fromkeys(r for r in reasons if r))
    reason = "; ".join(distinct[:2]) + (f" (+{len(distinct) - 2} more reasons)" if len(distinct) > 2 else "")
    return Check(name, CheckState.NOT_MADE, WHAT[name], reason=reason or "not read",
                 command=command or COMMANDS[name], subjects=tuple(subjects))


def _ok(gpus: Iterable[Gpu]) -> list[Gpu]:
    return [g for g in gpus if g.status == "ok"]


def _links(topo: Topology) -> Check:
    ok = {g.label for g in _ok(topo.gpus)}
    pairs = [lk for lk in topo.gpu_links() if lk.a in ok and lk.b in ok]
    if not pairs:
        return _na("links", "fewer than two readable GPUs: no GPU pair")
    unknown = [lk for lk in pairs if lk.health is LinkHealth.UNKNOWN]
    if not unknown:
        return _made("links")
    reasons, command = [], COMMANDS["links"]
    for lk in unknown:
        if "unseen" in lk.evidence:
            reasons.append(f"not in the capture: {lk.evidence['unseen']}")
        elif isinstance(lk.nvlinks_expected, Unknown):
            reasons.append(lk.nvlinks_expected.reason)
        if "suspect" in lk.evidence:
            command = COMMANDS["nvlink_ports"]
    return _missing("links", reasons, [f"{lk.a}-{lk.b}" for lk in unknown], command)


def _may_have_nvlink(g: Gpu) -> bool:
    sku = skus.lookup(g.name)
    return sku is None or sku.has_nvlink


def _silent(g: Gpu) -> bool:
    """No ports recorded although the SKU has NVLink: on bare metal every probe lists an NVLink GPU's ports
    (inactive ones too), so the ports were not read (a snapshot from before `nvlinks_unread`, a probe that
    never said). A GPU in a VM whose driver answered "no NVLink port" is not silent: it said so
    (`virtualization.nvlink_not_exposed`)."""
    sku = skus.lookup(g.name)
    return (g.nvlinks_unread is None and not g.nvlinks and sku is not None and sku.has_nvlink
            and not nvlink_not_exposed(g))


def _ports(topo: Topology) -> Check:
    gpus = _ok(topo.gpus)
    gpus = [replace(g, nvlinks_unread=f"no NVLink ports recorded although the {g.name} has NVLink")
            if _silent(g) else g for g in gpus]
    unread = [g for g in gpus if g.nvlinks_unread is not None and _may_have_nvlink(g)]
    partial = [g for g in gpus if any(p.state is NvLinkState.UNKNOWN for p in g.nvlinks)]
    if unread or partial:
        reasons = [str(g.nvlinks_unread) for g in unread] + ["some port states unreadable" for _ in partial]
        return _missing("nvlink_ports", reasons, [g.label for g in [*unread, *partial]])
    if not any(g.nvlinks for g in gpus):
        hidden = [g for g in gpus if nvlink_not_exposed(g)]
        return _na("nvlink_ports", not_exposed_reason(hidden) if hidden else "no NVLink ports on these GPUs")
    return _made("nvlink_ports")


def _gpu_info(topo: Topology) -> Check:
    missing: list[tuple[Gpu, str]] = []
    for g in _ok(topo.gpus):
        if g.name in _UNNAMED:
            missing.append((g, "GPU model not read"))
            continue
        for value in (g.pcie.width_current, g.pcie.width_max, g.pcie.gen_max):
            if isinstance(value, Unknown):
                why = "" if value.reason == "not read" else f" ({value.reason})"
                missing.append((g, f"PCIe link not read{why}"))
                break
    if missing:
        return _missing("gpu_info", [r for _, r in missing], [g.label for g, _ in missing])
    return _made("gpu_info") if topo.gpus else _na("gpu_info", "no GPU")


def _errors(topo: Topology) -> Check:
    missing: list[tuple[Gpu, str]] = []
    supported = False
    for g in _ok(topo.gpus):
        if g.nvlinks_unread is not None and _may_have_nvlink(g):
            missing.append((g, g.nvlinks_unread))
        for p in g.nvlinks:
            if p.state is not NvLinkState.ACTIVE:
                continue
            values = list(vars(p.errors).values())
            if any(isinstance(v, int) for v in values):
                supported = True
                continue
            reasons = {v.reason for v in values if isinstance(v, Unknown)}
            if reasons != {"NVMLError_NotSupported"}:
                missing.append((g, f"counters of active NVLinks {sorted(reasons)[0]}"))
                break
    if missing:
        return _missing("nvlink_errors", [r for _, r in missing], [g.label for g, _ in missing])
    if supported:
        return _made("nvlink_errors")
    hidden = [g for g in _ok(topo.gpus) if nvlink_not_exposed(g)]
    if hidden and not any(g.nvlinks for g in _ok(topo.gpus)):
        return _na("nvlink_errors", not_exposed_reason(hidden))
    return _na("nvlink_errors", "no active NVLink with error counters")


def _p2p(topo: Topology) -> Check:
    ok = {g.label for g in _ok(topo.gpus)}
    pairs = [lk for lk in topo.gpu_links() if lk.a in ok and lk.b in ok]
    if not pairs:
        return _na("p2p", "fewer than two readable GPUs: no GPU pair")
    unknown = [lk for lk in pairs if isinstance(lk.p2p, Unknown)]
    if unknown:
        return _missing("p2p", [lk.p2p.reason for lk in unknown if isinstance(lk.p2p, Unknown)],
                        [f"{lk.a}-{lk.b}" for lk in unknown])
    return _made("p2p")


def _fabric(topo: Topology) -> Check:
    gpus = _ok(topo.gpus)
    if gpus and all(nvlink_not_exposed(g) for g in gpus):
        return _na("fabric", f"no NVLink exposed: {not_exposed_reason(gpus)}")
    counts = {lk.indices: lk.nvlinks for lk in topo.gpu_links()}
    archs = {s.arch for g in gpus if (s := skus.lookup(g.name)) is not None}
    reported = any(g.fabric is not None and g.fabric.state != "not_supported" for g in gpus)
    switch = reported or (len(gpus) >= 8 and any((s := skus.lookup(g.name)) is not None
                                                 and s.nvlink.topology == "switch" for g in gpus)) \
        or is_switch_system(gpus, counts, None)
    if not switch:
        return _na("fabric", "not an NVSwitch system")
    if not reported and not archs & set(_FABRIC_ARCHS):
        return _na("fabric", "no fabric state before Hopper: the NVLinks themselves are the evidence")
    unread = [g for g in gpus if g.fabric is None]
    if unread:
        return _missing("fabric", ["NVSwitch fabric state not read (NVML GpuFabricInfo, or `nvidia-smi -q`)"],
                        [g.label for g in unread])
    return _made("fabric")


def _health_gap(g: Gpu) -> str | None:
    """Why this GPU's health cannot be judged, or None when the driver answered everything it has."""
    h = g.health
    if not isinstance(h, GpuHealth):
        return h.reason if h.reason != "not read" else "`nvidia-smi -q` not read"
    if not h.memory_answered():
        return "row remapping / page retirement not in `nvidia-smi -q`"
    if not answered(h.ecc_volatile_uncorrectable):
        return "volatile ECC counters not read"
    if not h.clocks_answered():
        return "clock event reasons not read"
    if isinstance(g.mig, Unknown) and g.mig.reason != NOT_SUPPORTED:
        return f"MIG mode not read ({g.mig.reason})"
    return None


def _gpu_health(topo: Topology) -> Check:
    gpus = _ok(topo.gpus)
    if not gpus:
        return _na("gpu_health", "no readable GPU")
    gaps = [(g, why) for g in gpus if (why := _health_gap(g)) is not None]
    if gaps:
        return _missing("gpu_health", [why for _, why in gaps], [g.label for g, _ in gaps])
    return _made("gpu_health")


def coverage(topology: Topology) -> tuple[Check, ...]:
    """Every check, in a fixed order: made, not made (with why and the command) or not applicable.

    A `tpdoctor bench` run without a capture (source "bench") never probed the node: it claims no
    topology check, and only its measurements are judged."""
    if topology.source == "bench":
        why = "not probed: a `tpdoctor bench` run judges its measurements only (`tpdoctor scan` reads the node)"
        return tuple(_na(name, why) for name in COMMANDS)
    return (_links(topology), _ports(topology), _gpu_info(topology), _errors(topology), _p2p(topology),
            _fabric(topology), _gpu_health(topology))


def with_coverage(topology: Topology) -> Topology:
    """The snapshot with its coverage record filled in (what a report's JSON carries)."""
    return replace(topology, coverage=coverage(topology))


def not_made(topology: Topology) -> tuple[Check, ...]:
    """The checks whose evidence was missing: the UNKNOWN parts of a verdict."""
    checks = topology.coverage or coverage(topology)
    return tuple(c for c in checks if c.state is CheckState.NOT_MADE)
