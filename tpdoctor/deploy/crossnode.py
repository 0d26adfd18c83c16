"""Facts about deployments that span nodes: the network (NET) path, its per-token cost, NIC locality.

A TP group across nodes all-reduces over the network twice per layer per token; pipeline parallelism
across nodes sends one activation per stage boundary instead. Here, for one deployment:

- the NET path's all-reduce bandwidth: measured (inter-node `bench` results of the nodes, as
  `tpdoctor bench --nnodes` writes them) when present, else nominal: the NICs nearest the group's GPUs
  × 400 Gb/s (NDR / EFA v4, 50 GB/s) × 0.9 (one such NIC when the report does not list NICs).
  Anchor (docs/figures.md §1): 2 nodes × 8 A100 with 4× CX6 200 Gb/s (100 GB/s) measure
  91 GB/s busbw (NVIDIA/nccl-tests#100), i.e. ~0.9 of the NICs' line rate; 2 × 8 H100 with 8 NICs reach
  ~339 (a3-mega) and 4 × 8 H100 on 8× 400G RoCE ~320 (NVIDIA/nccl#1221).
- latency: 47 µs per small all-reduce between nodes (NCCL 4–512 B over NDR IB, NVIDIA/nccl#1244).
- the per-token cost as deployed (TP over NET) and as TP inside a node × PP across nodes (each stage
  boundary: one activation send over NET per token);
- NIC locality: NCCL uses GPUDirect RDMA only when the NIC sits under the same PCIe switch as the GPU
  (`NCCL_NET_GDR_LEVEL` default PXB); a GPU whose nearest NIC is PHB/NODE/SYS (or with no NIC at all)
  stages every inter-node transfer through host memory. A report that does not say where the NICs are
  (NVML snapshots, blank NIC cells) leaves NIC locality unknown: "could not judge", never "no NIC".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpdoctor.advice import costmodel
from tpdoctor.deploy import domain
from tpdoctor.deploy.crossnode_choice import CHOICE_FACTS, choose
from tpdoctor.deploy.domain import DOMAIN_FACTS
from tpdoctor.engine.schema import Fact
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.sizes import format_size
from tpdoctor.model.topology import Topology, path_kind, path_sort_key
from tpdoctor.model.unknown import Unknown

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment

NIC_GBPS = 50.0  # one 400 Gb/s NIC (NDR / EFA v4), per direction
NET_EFFICIENCY = 0.9  # 91 GB/s measured of 100 GB/s line (NVIDIA/nccl-tests#100)
LOCAL_NIC_PATHS = ("PIX", "PXB")

S, F, B, L = "string", "float", "bool", "list"

CROSS_NODE_FACTS: dict[str, Fact] = {
    "multi_node": Fact(B, "One copy spans more than one node (nodes > 1: LeaderWorkerSet size, job nodes)."),
    "net_path": Fact(S, "The network path a cross-node TP group all-reduces over, e.g. NET (node-a ↔ node-b).",
                     True),
    "net_busbw_gbps": Fact(F, "All-reduce busbw over that path, GB/s: measured between the nodes, else nominal.",
                           True),
    "net_bw_source": Fact(S, "measured or nominal, and from what (bench group or NICs × 400 Gb/s × 0.9).", True),
    "net_allreduce_us": Fact(F, "One all-reduce of the TP group over NET, µs (47 µs latency + bytes/busbw).",
                             True),
    "net_allreduce_ms_per_token": Fact(F, "All-reduce share of each token with TP across nodes, ms.", True),
    "net_per_token_ms": Fact(F, "Predicted ms per output token with TP across nodes (batch 1).", True),
    "pp_tp": Fact("int", "TP inside one node for the TP-inside × PP-across alternative (GPUs per node).", True),
    "pp_stages": Fact("int", "PP stages of that alternative (tp × pp / pp_tp).", True),
    "pp_per_token_ms": Fact(F, "Predicted ms per output token as TP=pp_tp inside a node × pp_stages over NET.",
                            True),
    "pp_net_ms_per_token": Fact(F, "The network share of that: one activation send per stage boundary, ms.",
                                True),
    "nic_paths": Fact(L, "Each GPU of the group and its nearest NIC, e.g. GPU0→NIC0 (PIX) (multi-node only).",
                      True),
    "gpus_without_local_nic": Fact(L, "GPUs of a multi-node job whose nearest RDMA NIC is not PIX/PXB (or that "
                                      "have none), described.", True),
    "stage_nodes": Fact(L, "Fleet mode: each node of the job and its GPU group, e.g. node-a GPU0+…+GPU7 (NV18).",
                        True),
    "placement": Fact(S, "Fleet mode: where it runs or where tpdoctor places it (node and GPUs).", True),
    **CHOICE_FACTS,
    **DOMAIN_FACTS,
}
# What the cost model predicts for a cross-node group (the model's architecture and the GPU needed).
PREDICTED = ("net_allreduce_us", "net_allreduce_ms_per_token", "net_per_token_ms", "pp_per_token_ms",
             "pp_net_ms_per_token", *CHOICE_FACTS)


@dataclass(frozen=True)
class NetContext:
    """What the fleet knows about the nodes a job spans (single-node mode: only the checked node)."""

    hosts: tuple[str, ...] = ()
    measured_gbps: float | None = None  # inter-node all-reduce busbw measured between these hosts
    measured_detail: str | None = None
    stage_nodes: tuple[str, ...] = ()
    placement: str | None = None
    stage_topologies: tuple[Topology, ...] = ()  # the other nodes' topologies (for NIC locality)
    stage_groups: tuple[tuple[int, ...], ...] = ()  # their groups, same order
    # multi-node NVLink domains (deploy/domain.py): each host's, in `hosts` order (None: in none, or unknown),
    # the shared domain's unhealthy members ("host: why"), and each host's IMEX (state, what was read)
    nvlink_domains: tuple[str | None, ...] = ()
    domain_unhealthy: tuple[str, ...] = ()
    imex: tuple[tuple[str, str], ...] = ()


def nearest_nic(topology: Topology, gpu: int) -> tuple[str, str] | None:
    """(NIC label, path) of the GPU's best NIC path, or None when the node lists no NIC."""
    label = f"GPU{gpu}"
    best: tuple[str, str] | None = None
    for nic in topology.nics:
        lk = topology.link(label, nic.label)
        if lk is not None and (best is None or path_sort_key(lk.path) < path_sort_key(best[1])):
            best = (nic.label, lk.path)
    return best


def nic_report(topology: Topology, gpus: Sequence[int], prefix: str = "") -> tuple[list[str], list[str]] | None:
    """(every GPU's nearest NIC, the GPUs without a local one), described; None when the report does not
    say where the NICs are (no NIC listed, or blank NIC cells): not knowing is not "no NIC"."""
    paths, missing = [], []
    for g in gpus:
        near = nearest_nic(topology, g)
        if near is None:
            return None
        paths.append(f"{prefix}GPU{g}→{near[0]} ({near[1]})")
        if near[1] not in LOCAL_NIC_PATHS:
            missing.append(f"{prefix}GPU{g} (nearest {near[0]} over {near[1]})")
    return paths, missing


def nominal_net(topology: Topology, gpus: Sequence[int]) -> tuple[float, str]:
    """Nominal inter-node busbw from the NICs nearest the group's GPUs."""
    nics = {near[0] for g in gpus if (near := nearest_nic(topology, g)) is not None}
    if not nics:
        return (NIC_GBPS * NET_EFFICIENCY,
                f"nominal: NICs not in the report, one 400 Gb/s NIC × {NET_EFFICIENCY:g} assumed")
    return (len(nics) * NIC_GBPS * NET_EFFICIENCY,
            f"nominal: {len(nics)} NIC(s) × 400 Gb/s × {NET_EFFICIENCY:g} (2×8 A100 on 4× 200 Gb/s measure 91 GB/s)")


def measured_between(bench: Sequence[BenchResult], hosts: Sequence[str]) -> tuple[float, str] | None:
    """The best correct busbw of a bench group spanning exactly these hosts; else the weakest of each host's
    best cross-host figure (a node's network is at most as fast as it measured with any peer)."""
    want = frozenset(hosts)
    exact: BenchResult | None = None
    per_host: dict[str, BenchResult] = {}
    for r in bench:
        if not r.spans_hosts or r.error or not r.correct or r.busbw_gbps <= 0:
            continue
        members = frozenset(r.hosts)
        if members == want and (exact is None or r.busbw_gbps > exact.busbw_gbps):
            exact = r
        for h in members & want:
            if h not in per_host or r.busbw_gbps > per_host[h].busbw_gbps:
                per_host[h] = r
    if exact is not None:
        return exact.busbw_gbps, (f"measured: {exact.label or 'bench'} {' ↔ '.join(dict.fromkeys(exact.hosts))}, "
                                  f"{format_size(exact.bytes)}")
    if want and set(per_host) == want:
        weakest = min(per_host.items(), key=lambda kv: kv[1].busbw_gbps)
        return weakest[1].busbw_gbps, (f"measured: {weakest[0]}'s best with a peer "
                                       f"({' ↔ '.join(dict.fromkeys(weakest[1].hosts))})")
    return None


def facts(a: Assessment, topology: Topology, net: NetContext | None = None,
          bench: Sequence[BenchResult] = ()) -> dict[str, Any]:
    """The cross-node facts of one deployment (all null for a single-node one, except `multi_node`)."""
    d = a.deployment
    out: dict[str, Any] = {k: None for k in CROSS_NODE_FACTS}
    out["multi_node"] = d.nodes > 1
    net = net or NetContext()
    out["stage_nodes"] = list(net.stage_nodes) if net.stage_nodes else None
    out["placement"] = net.placement
    per_node = len(topology.gpus)
    cross = d.nodes > 1 and d.tp > (d.gpu_count or per_node) or d.tp > per_node
    judged, in_domain = domain.judge(a, topology, net, bench, multi_node=d.nodes > 1 or cross)
    out.update(judged)  # in_domain: the job's nodes share one NVLink domain, and the path between them
    if d.nodes <= 1 and not cross:
        return out
    gpus = _job_gpus(a, topology)
    if gpus is not None:
        reports = [nic_report(topology, gpus, f"{topology.host} " if net.stage_topologies else "")]
        reports += [nic_report(topo, group, f"{topo.host} ")
                    for topo, group in zip(net.stage_topologies, net.stage_groups)]
        if all(r is not None for r in reports):
            out["nic_paths"] = [p for r in reports if r is not None for p in r[0]]
            out["gpus_without_local_nic"] = [m for r in reports if r is not None for m in r[1]]
    hosts = net.hosts or (topology.host,)
    measured = (net.measured_gbps, net.measured_detail or "measured") if net.measured_gbps else None
    if measured is None and len(hosts) > 1:
        measured = measured_between(bench, hosts)
    if measured is not None:
        bw, detail = measured
    else:
        bw, detail = nominal_net(topology, gpus if gpus is not None else [g.index for g in topology.gpus])
    out["net_path"] = (f"NET ({' ↔ '.join(hosts)})" if len(hosts) > 1
                       else f"NET ({topology.host} ↔ {max(d.nodes - 1, 1)} other node(s))")
    out["net_busbw_gbps"] = round(bw, 1)
    out["net_bw_source"] = detail
    if in_domain is not None:  # the path between the nodes is NVLink: its figures, not the network's
        bw = in_domain.path.bw_gbps
        out["net_path"], out["net_busbw_gbps"], out["net_bw_source"] = in_domain.text, round(bw, 1), in_domain.source
    if not cross:
        return out
    if a.spec is None or a.sku is None:  # its costs and the choice cannot be predicted: unknown, not null
        why = (a.deployment.unknown.get("model") or next((n for n in a.notes if "model" in n), "model not known")
               if a.spec is None else f"GPU {a.gpu_name or '?'} is not in data/gpus.yaml (give --gpu SKU)")
        out.update(dict.fromkeys(PREDICTED, Unknown(why)))
        return out
    gp = in_domain.path if in_domain is not None else costmodel.GroupPath(
        "NET", bw, "measured" if measured else "nominal", costmodel.LATENCY_US[path_kind("NET")])
    now = costmodel.predict(a.spec, tp=d.tp, path=gp, dtype=a.dtype, sku=a.sku)
    out["net_allreduce_us"] = round(now.allreduce_us, 1)
    out["net_allreduce_ms_per_token"] = round(now.allreduce_ms_per_token, 2)
    out["net_per_token_ms"] = round(now.per_token_ms, 2)
    pp_tp = min(d.tp, per_node)
    stages = max(1, d.tp * d.pp // pp_tp)
    inside = a.free_best if a.free_best is not None and len(a.free_best.gpus) == pp_tp else None
    local = (costmodel.nominal_path(inside.weakest_path, a.sku) if inside is not None and inside.weakest_path
             else costmodel.nominal_path(f"NV{a.sku.nvlink.expected}", a.sku) if a.sku.has_nvlink
             and a.sku.nvlink.expected else costmodel.nominal_path("PHB", a.sku))
    out["pp_tp"], out["pp_stages"] = pp_tp, stages
    out.update(choose(a, gp, local, pp_tp, stages))
    return out


def _job_gpus(a: Assessment, topology: Topology) -> list[int] | None:
    """The GPUs the job uses on this node: pinned, else all of them when it needs them all, else the best
    free group tpdoctor would pick; None when not even that exists."""
    if a.gpus is not None:
        return list(a.gpus)
    n = a.deployment.gpus_needed
    if n >= len(topology.gpus):
        return [g.index for g in topology.gpus]
    return list(a.free_best.gpus) if a.free_best is not None else None
