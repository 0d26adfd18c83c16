"""The node scope's facts: what node rules (TPD1xx) see, computed from a Topology in Python.

Rules only decide and explain; everything that needs arithmetic over the model (which NVLinks are
expected, error sums, drift against a baseline, busbw expectations) is computed here. The schema below is
the documentation: `docs/rules.md` prints it, and rule templates are checked against it at load time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tpdoctor.engine.schema import INT, B, F, Fact, L, S, ScopeFacts, ScopeSchema, SubjectSchema
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.coverage import not_made
from tpdoctor.model.expected_busbw import group_busbw_gbps
from tpdoctor.model.fabric import registered
from tpdoctor.model.identity import Match, match
from tpdoctor.model.topology import Gpu, Link, NvLinkState, RemoteType, Topology, path_kind
from tpdoctor.model.unknown import Unknown
from tpdoctor.model.virtualization import not_exposed_reason, nvlink_not_exposed, pcie_paths_words
from tpdoctor.node.benchfacts import ExpectedBusbw, bench_facts
from tpdoctor.node.drift import drift_items, error_sums
from tpdoctor.node.fabric_facts import GPU_FABRIC_FACTS, NODE_FABRIC_FACTS, gpu_fabric, node_fabric
from tpdoctor.node.health_facts import (
    GPU_HEALTH_FACTS,
    MISSING,
    NODE_HEALTH_FACTS,
    gpu_health,
    missing_subjects,
    node_health,
)
from tpdoctor.node.rootcause import DarkLinks, board_kind, dark_links, pcie_facts, repair

NODE = SubjectSchema("node", "The whole node (one per evaluation; visible to every node rule).", {
    "host": Fact(S, "Host name."),
    "gpu_count": Fact(INT, "GPUs seen by the probe."),
    "gpu_names": Fact(L, "Distinct GPU product names."),
    "nvswitch": Fact(B, "The GPUs sit on an NVSwitch fabric (fabric state reported, or links land on switches)."),
    "links_down": Fact(INT, "GPU pairs whose expected NVLinks are all down."),
    "links_degraded": Fact(INT, "GPU pairs with some, not all, expected NVLinks up."),
    "baseline": Fact(B, "A baseline topology was given (drift facts are meaningful)."),
    "driver_version": Fact(S, "NVIDIA driver version.", True),
    "probe_notes": Fact(L, "What the probe could not read, disagreements between sources."),
    "nvlink_board": Fact(S, "NVLink hardware of the node's SKUs: switch (HGX/DGX), bridge (PCIe cards), mesh, "
                         "none; mixed or unknown when the SKUs differ or are not in the catalogue."),
    "nvlink_pairs_expected": Fact(INT, "GPU pairs (both GPUs readable) that expect NVLinks."),
    "nvlinks_all_dark": Fact(B, "Every GPU pair that expects NVLinks reads down and no GPU has an active "
                             "NVLink port: one node-wide cause (on NVSwitch boards, the fabric)."),
    "fabric_not_ready": Fact(INT, "GPUs whose NVSwitch fabric state reads not ready (TPD105's subjects)."),
    "checks_not_made": Fact(L, "Checks whose evidence was missing (model/coverage.py): links, nvlink_ports, "
                            "gpu_info, nvlink_errors, p2p, fabric."),
    "vm_nvlink_hidden": Fact(L, "GPUs of an NVLink SKU that run in a VM (pass-through or vGPU) whose driver "
                             "answered that it exposes no NVLink port (model/virtualization.py)."),
    "vm_nvlink_hidden_reason": Fact(S, "Those GPUs in words: `GPU0, GPU1 are passed through to a VM and the "
                                    "driver exposes no NVLink port`; null when there are none.", True),
    "vm_nvlink_hidden_paths": Fact(S, "The path each pair of those GPUs takes now, `GPU0-GPU1 PHB`; null with "
                                   "fewer than two.", True),
    **NODE_FABRIC_FACTS,
    **NODE_HEALTH_FACTS,
})

LINK = SubjectSchema("link", "A GPU pair, listed once (a before b). `id` is `GPU0-GPU1`.", {
    "a": Fact(S, "First GPU label, e.g. GPU0."),
    "b": Fact(S, "Second GPU label."),
    "a_index": Fact(INT, "First GPU index."),
    "b_index": Fact(INT, "Second GPU index."),
    "gpu_name": Fact(S, "Product name of the first GPU."),
    "path": Fact(S, "Effective path now, nvidia-smi vocabulary: NV12, PIX, PXB, PHB, NODE, SYS."),
    "kind": Fact(S, "Path class: NV, PIX, PXB, PHB, NODE or SYS."),
    "nvlinks": Fact(INT, "NVLinks bonded and up between the pair."),
    "nvlinks_expected": Fact(INT, "NVLinks that should be up (baseline, SKU, symmetry or NVML); 0 for PCIe-only "
                              "pairs; null when nobody can say.", True),
    "nvlinks_missing": Fact(INT, "nvlinks_expected - nvlinks, when the expectation is known.", True),
    "pcie_path": Fact(S, "The PCIe path under (or instead of) NVLink.", True),
    "p2p": Fact(S, "Peer-to-peer status, topo -p2p codes: OK CNS GNS TNS NS DR U.", True),
    "p2p_read": Fact(S, "P2P read status.", True),
    "p2p_write": Fact(S, "P2P write status.", True),
    "p2p_nvlink": Fact(S, "P2P over NVLink status (NVML_P2P_CAPS_INDEX_NVLINK).", True),
    "health": Fact(S, "ok, degraded, down or unknown (from the link graph)."),
    "nominal_gbps": Fact(F, "Nominal per-direction GB/s of the effective path.", True),
    "busbw_gbps": Fact(F, "Measured all-reduce busbw of this pair, when benchmarked.", True),
    "mig": Fact(B, "Either GPU runs in MIG mode (NVLinks are off by configuration, not broken)."),
    "gpus_ok": Fact(B, "Both GPUs read fine (status ok); a lost GPU is TPD108's, not its links'."),
    "fabric_ready": Fact(B, "Both GPUs' NVSwitch fabric registration completed with success; null when "
                          "neither GPU is on a fabric or the state was not read.", True),
    "expected_from": Fact(S, "Where nvlinks_expected came from: baseline, sku:<key>, symmetry:..., "
                          "vm:nvlink-not-exposed (both GPUs in a VM exposing no NVLink), observed.",
                        True),
    "baseline_path": Fact(S, "The pair's path in the baseline, when a baseline is given.", True),
    "baseline_nvlinks": Fact(INT, "NVLinks up in the baseline.", True),
    "folded_under": Fact(S, "The root-cause finding this pair's NVLink state is folded under: `node` (every "
                         "NVLink dark, TPD110) or a GPU label (that GPU lost every link, TPD111); null otherwise.",
                         True),
    "repair": Fact(S, "What to check for the pair's NVLink hardware, by board: the bridge (bridge SKUs), the "
                   "baseboard (NVSwitch boards), the board (mesh), or how to find out."),
    "suspect": Fact(S, "bridge-missing-or-down: an unbridged pair of a bridge SKU beside bridged siblings, "
                    "port states not read (TPD113); null otherwise.", True),
})

GPU = SubjectSchema("gpu", "One GPU. `id` is `GPU3`.", {
    "index": Fact(INT, "nvidia-smi / NVML index."),
    "name": Fact(S, "Product name, e.g. NVIDIA H100 NVL."),
    "pci_bus_id": Fact(S, "PCI bus id.", True),
    "status": Fact(S, "Probe status of this GPU: ok, lost or error."),
    "status_reason": Fact(S, "Why the status is not ok.", True),
    "mig": Fact(B, "MIG mode enabled.", True),
    "virtualization": Fact(S, "Where the GPU runs: none (bare metal), pass-through or vgpu (in a VM), "
                           "host-vgpu or host-vsga (the hypervisor host); null when not read.", True),
    "nvlink_ports": Fact(INT, "NVLink ports the probe listed (0 on a PCIe-only GPU)."),
    "nvlinks_active": Fact(INT, "Ports reading active."),
    "nvlinks_inactive": Fact(INT, "Ports reading inactive."),
    "nvlinks_disabled": Fact(INT, "Ports disabled by configuration (MIG)."),
    "nvlink_replay_errors": Fact(INT, "Sum of DL replay counters over the GPU's NVLinks.", True),
    "nvlink_recovery_errors": Fact(INT, "Sum of DL recovery counters.", True),
    "nvlink_crc_errors": Fact(INT, "Sum of CRC flit + CRC data counters.", True),
    "nvlink_errors": Fact(INT, "Sum of all the counters above; null when none could be read.", True),
    "nvlink_error_links": Fact(L, "NVLink numbers with any non-zero counter."),
    "nvlink_errors_baseline": Fact(INT, "The same sum in the baseline.", True),
    "nvlink_errors_delta": Fact(INT, "nvlink_errors - nvlink_errors_baseline (rise since the baseline).", True),
    "pcie_gen_current": Fact(INT, "PCIe generation now (drops at idle by design).", True),
    "pcie_gen_max": Fact(INT, "Max PCIe generation for this GPU in this slot.", True),
    "pcie_gpu_gen_max": Fact(INT, "The GPU's own max PCIe generation.", True),
    "pcie_width_current": Fact(INT, "PCIe lanes now.", True),
    "pcie_width_max": Fact(INT, "Max PCIe lanes.", True),
    "busy": Fact(B, "The GPU was busy (P0 or utilised) when read; null when not known.", True),
    "fabric_state": Fact(S, "NVSwitch fabric state: not_supported, not_started, in_progress, completed; "
                          "null when the GPU reports no fabric.", True),
    "fabric_status": Fact(S, "Fabric registration result (meaningful when completed).", True),
    "fabric_health": Fact(S, "Fabric health summary.", True),
    "fabric_ready": Fact(B, "completed + success; null when not on a fabric.", True),
    "fabric_detail": Fact(S, "The fabric state in words, with the status when completed (e.g. "
                           "`completed, status NVML_ERROR_TIMEOUT`).", True),
    "pcie_capable_gen": Fact(INT, "The GPU's own max PCIe generation (NVML), else its SKU's.", True),
    "pcie_capable_width": Fact(INT, "The SKU's PCIe lanes.", True),
    "pcie_now": Fact(S, "The link now in words, `Gen5 x8` (`?` for a part not read)."),
    "pcie_slot_max": Fact(S, "The slot's max in words, `Gen5 x16`."),
    "pcie_capable": Fact(S, "What the GPU itself can do, `Gen5 x16`."),
    "nvlink_pairs_expected": Fact(INT, "Pairs with this GPU that expect NVLinks (readable peers)."),
    "nvlink_pairs_down": Fact(INT, "Those pairs reading down."),
    "nvlinks_all_down": Fact(B, "This GPU lost every NVLink (two or more expected pairs, all down) while "
                             "other GPUs kept theirs: one GPU fault, not one per pair."),
    "repair": Fact(S, "What to check for this GPU's NVLink hardware, by board."),
    **GPU_FABRIC_FACTS,
    **GPU_HEALTH_FACTS,
})

BENCH = SubjectSchema("bench", "One benchmarked GPU group at its largest correct message size. "
                      "`id` is `GPU0+GPU1` (`node-a:GPU0+node-b:GPU0` for a group across nodes).", {
    "group": Fact(L, "GPU indices (global ranks for a group across nodes)."),
    "label": Fact(S, "What was benchmarked (deployment name, pairs, node).", True),
    "backend": Fact(S, "nccl or gloo."),
    "bytes": Fact(INT, "Message size."),
    "busbw_gbps": Fact(F, "Measured busbw, nccl-tests convention."),
    "algbw_gbps": Fact(F, "Measured algbw."),
    "correct": Fact(B, "The all-reduce result was right."),
    "error": Fact(S, "Why the run failed.", True),
    "failed_runs": Fact(INT, "Measurements of this group (any size) that hung, died or gave a wrong sum."),
    "failure": Fact(S, "The first failure in words (its error, or `wrong result`); null when none failed.", True),
    "path": Fact(S, "Weakest path inside the group (NET across nodes).", True),
    "busbw_expected_gbps": Fact(F, "What busbw this group should reach (SKU, GPU count, path); null when "
                                  "no published figure applies (e.g. gloo on CPU).", True),
    "busbw_ratio": Fact(F, "busbw_gbps / busbw_expected_gbps.", True),
})

DRIFT = SubjectSchema("drift", "One difference from the baseline. `id` names what changed.", {
    "what": Fact(S, "gpu_gone, gpu_added, gpu_changed, nvlinks_dropped, path_changed, p2p_changed or "
                  "errors_rising."),
    "before": Fact(S, "Value in the baseline.", True),
    "after": Fact(S, "Value now.", True),
    "detail": Fact(S, "One-line description."),
})

NODE_SCHEMA = ScopeSchema(
    "node", "Facts about one node's GPUs, links, benchmark results and drift from its baseline.",
    {"node": NODE, "link": LINK, "gpu": GPU, "bench": BENCH, "drift": DRIFT, "missing": MISSING},
    shared=("node",))



def _k(value: Any) -> Any:
    """Unknown -> None (the reason goes to the subject's `unknown` map)."""
    return None if isinstance(value, Unknown) else value


def _subject(ident: str, values: dict[str, Any]) -> dict[str, Any]:
    unknown: dict[str, str] = {}
    out: dict[str, Any] = {"id": ident, "unknown": unknown}
    for key, value in values.items():
        if value.__class__ is Unknown:
            unknown[key] = value.reason
            out[key] = None
        else:
            out[key] = value
    return out


def _float(value: Any) -> Any:
    return float(value) if value.__class__ is int else value


def node_facts(topology: Topology, bench: Sequence[BenchResult] = (), baseline: Topology | None = None,
               expected_busbw: ExpectedBusbw | None = None) -> ScopeFacts:
    """All node-scope facts for one snapshot (and its baseline, when given).

    `expected_busbw` defaults to `group_busbw_gbps` (the SKU catalogue); inject another for tests."""
    expected_busbw = expected_busbw or group_busbw_gbps

    gpus = {g.index: g for g in topology.gpus}
    matched = match(baseline, topology) if baseline else None
    base_by_index = {g.index: g for g in baseline.gpus} if baseline else {}
    base_gpus = {now: base_by_index[before] for now, before in matched.now_to_before.items()} if matched else {}
    kind = board_kind(topology.gpus)
    dark = dark_links(topology)
    not_ready = sum(1 for g in topology.gpus if fabric_ready(g) is False)
    root = dark.node_dark and kind == "switch" and not_ready == 0
    sides = _sides(gpus, dark, root)
    links = [_link(lk, sides, baseline, kind, matched) for lk in topology.gpu_links()]
    node = _subject(topology.host, {
        "host": topology.host,
        "gpu_count": len(topology.gpus),
        "gpu_names": sorted({g.name for g in topology.gpus}),
        "nvswitch": any(_on_fabric(g) for g in topology.gpus),
        "links_down": sum(1 for lk in links if lk["health"] == "down"),
        "links_degraded": sum(1 for lk in links if lk["health"] == "degraded"),
        "baseline": baseline is not None,
        "driver_version": topology.driver_version,
        "probe_notes": list(topology.probe_notes),
        "nvlink_board": kind,
        "nvlink_pairs_expected": sum(dark.pairs_expected.values()) // 2,
        "nvlinks_all_dark": dark.node_dark,
        "fabric_not_ready": not_ready,
        "checks_not_made": [c.name for c in not_made(topology)],
        **_vm_facts(topology),
        **node_fabric(topology),
        **node_health(topology),
    })
    return ScopeFacts("node", {
        "node": [node],
        "link": links,
        "gpu": [_gpu(g, base_gpus.get(g.index), dark, kind) for g in topology.gpus],
        "bench": bench_facts(topology, bench, expected_busbw),
        "drift": [_subject(d.ident, {"what": d.what, "before": d.before, "after": d.after, "detail": d.detail})
                  for d in (drift_items(baseline, topology, matched) if baseline else [])],
        "missing": [_subject(ident, values) for ident, values in missing_subjects(topology)],
    })


def _vm_facts(topology: Topology) -> dict[str, Any]:
    hidden = [g for g in topology.gpus if nvlink_not_exposed(g)]
    return {"vm_nvlink_hidden": [g.label for g in hidden],
            "vm_nvlink_hidden_reason": not_exposed_reason(hidden) if hidden else None,
            "vm_nvlink_hidden_paths": pcie_paths_words(topology, hidden) if len(hidden) > 1 else None}


def _on_fabric(g: Gpu) -> bool:
    if g.fabric is not None and g.fabric.state != "not_supported":
        return True
    return any(p.remote_type is RemoteType.SWITCH for p in g.nvlinks)


def fabric_ready(g: Gpu) -> bool | None:
    """True when registered with the fabric, False when on a fabric but not ready, None when off-fabric."""
    return registered(g.fabric)


@dataclass(frozen=True)
class _GpuSide:
    """What a link's facts need from each endpoint, computed once per GPU (a 72-GPU node has 2,556 links)."""

    name: str
    mig: bool
    fabric: bool | None
    ok: bool
    folded: str | None  # the root cause this GPU's dark pairs are folded under ("node", "GPU3")


def _sides(gpus: dict[int, Gpu], dark: DarkLinks, root: bool) -> dict[int, _GpuSide]:
    def folded(i: int) -> str | None:
        return "node" if root else (f"GPU{i}" if i in dark.gpus_dark else None)

    return {i: _GpuSide(g.name, g.mig is True, fabric_ready(g), g.status == "ok", folded(i))
            for i, g in gpus.items()}


@lru_cache(maxsize=512)
def _kind(path: str) -> str:
    return path_kind(path).value


def _link(lk: Link, sides: dict[int, _GpuSide], baseline: Topology | None, kind: str,
          matched: Match | None) -> dict[str, Any]:
    ia, ib = lk.indices
    sa, sb = sides.get(ia), sides.get(ib)
    expected = lk.nvlinks_expected
    fab = (sa.fabric if sa else None, sb.fabric if sb else None)
    ba, bb = (matched.before_label(lk.a), matched.before_label(lk.b)) if matched else (None, None)
    base = baseline.link(ba, bb) if baseline and ba and bb else None
    detail = lk.p2p_detail
    source = lk.evidence.get("expected_from")
    return _subject(f"{lk.a}-{lk.b}", {
        "a": lk.a, "b": lk.b, "a_index": ia, "b_index": ib,
        "gpu_name": sa.name if sa else "unknown",
        "path": lk.path, "kind": _kind(lk.path),
        "nvlinks": lk.nvlinks,
        "nvlinks_expected": expected,
        "nvlinks_missing": expected - lk.nvlinks if isinstance(expected, int) else Unknown("no expectation"),
        "pcie_path": lk.pcie_path,
        "p2p": lk.p2p,
        "p2p_read": detail.get("read"),
        "p2p_write": detail.get("write"),
        "p2p_nvlink": detail.get("nvlink"),
        "health": lk.health.value,
        "nominal_gbps": _float(lk.nominal_gbps),
        "busbw_gbps": _float(lk.busbw_gbps),
        "mig": bool((sa and sa.mig) or (sb and sb.mig)),
        "gpus_ok": bool(sa and sa.ok and sb and sb.ok),
        "fabric_ready": False if False in fab else (True if True in fab else None),
        "expected_from": source if isinstance(source, str) else None,
        "baseline_path": base.path if base else None,
        "baseline_nvlinks": base.nvlinks if base else None,
        "folded_under": (sa.folded if sa else None) or (sb.folded if sb else None),
        "repair": repair(kind),
        "suspect": lk.evidence.get("suspect") if isinstance(lk.evidence.get("suspect"), str) else None,
    })


def _gpu(g: Gpu, base: Gpu | None, dark: DarkLinks, kind: str) -> dict[str, Any]:
    sums = error_sums(g)
    base_total = error_sums(base)["total"] if base else None
    err_links = [p.link for p in g.nvlinks
                 if any(isinstance(v, int) and v > 0 for v in vars(p.errors).values())]
    states = [p.state for p in g.nvlinks]
    fab = g.fabric
    return _subject(g.label, {
        "index": g.index, "name": g.name, "pci_bus_id": g.pci_bus_id,
        "status": g.status, "status_reason": g.status_reason,
        "mig": g.mig,
        "virtualization": g.virtualization,
        "nvlink_ports": len(g.nvlinks),
        "nvlinks_active": states.count(NvLinkState.ACTIVE),
        "nvlinks_inactive": states.count(NvLinkState.INACTIVE),
        "nvlinks_disabled": states.count(NvLinkState.DISABLED),
        "nvlink_replay_errors": sums["replay"] if sums["replay"] is not None else Unknown("not read"),
        "nvlink_recovery_errors": sums["recovery"] if sums["recovery"] is not None else Unknown("not read"),
        "nvlink_crc_errors": sums["crc"] if sums["crc"] is not None else Unknown("not read"),
        "nvlink_errors": sums["total"] if sums["total"] is not None else Unknown("not read"),
        "nvlink_error_links": err_links,
        "nvlink_errors_baseline": base_total,
        "nvlink_errors_delta": (sums["total"] - base_total
                                if sums["total"] is not None and base_total is not None else None),
        "pcie_gen_current": g.pcie.gen_current,
        "pcie_gen_max": g.pcie.gen_max,
        "pcie_gpu_gen_max": g.pcie.gpu_gen_max,
        "pcie_width_current": g.pcie.width_current,
        "pcie_width_max": g.pcie.width_max,
        "busy": _busy(g),
        "fabric_state": fab.state if fab else None,
        "fabric_status": fab.status if fab else None,
        "fabric_health": fab.health if fab else None,
        "fabric_ready": fabric_ready(g),
        "fabric_detail": _fabric_detail(g),
        **pcie_facts(g),
        "nvlink_pairs_expected": dark.pairs_expected[g.index],
        "nvlink_pairs_down": dark.pairs_down[g.index],
        "nvlinks_all_down": g.index in dark.gpus_dark,
        "repair": repair(kind),
        **gpu_fabric(g),
        **gpu_health(g, kind),
    })


def _fabric_detail(g: Gpu) -> str | None:
    fab = g.fabric
    if fab is None:
        return None
    if fab.state == "completed" and isinstance(fab.status, str):
        return f"{fab.state}, status {fab.status}"
    return fab.state


def _busy(g: Gpu) -> Any:
    """Busy when the performance state says so (P0-P2); utilisation when a probe adds it."""
    if isinstance(g.pstate, str):
        return g.pstate.upper() in ("P0", "P1", "P2")
    util = getattr(g, "utilization_gpu_percent", None)
    if isinstance(util, (int, float)) and not isinstance(util, bool):
        return util > 0
    return Unknown("utilisation not read")
