"""Is a multi-node deployment's TP group inside one multi-node NVLink domain (GB200/GB300 NVL72), and what
does that domain's health say about it?

A TP group whose nodes all share one domain (ClusterUUID + CliqueId) all-reduces over NVLink through the
switch trays, not over the network: its path is the tray's own NV# (18 NVLink5 links per GPU on GB200, the
same links that join the tray's GPUs), its bandwidth the measured multi-node figure when the nodes' reports
hold one (`tpdoctor bench --nnodes` between exactly these nodes), else that path's nominal rating (cost
model). Nodes in no domain, in different ones, or whose domain cannot be told are not NVLink-joined: the
network path (TPD203) stands. Checked on one node alone, a tray in a domain cannot know where the job's
other nodes are: unknown, with the command that would answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tpdoctor.advice import costmodel
from tpdoctor.engine.schema import B, F, Fact, L, S
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.sizes import format_size
from tpdoctor.model.topology import Topology, path_kind
from tpdoctor.model.unknown import Unknown

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment
    from tpdoctor.deploy.crossnode import NetContext

DOMAIN_FACTS: dict[str, Fact] = {
    "nvlink_domain": Fact(S, "The multi-node NVLink domain (`<ClusterUUID>.<CliqueId>`) every node of a multi-node "
                          "job is in; null when they are in none or in different ones.", True),
    "in_nvlink_domain": Fact(B, "Every node of a multi-node job is in one multi-node NVLink domain: its TP group "
                             "crosses nodes over NVLink, not the network. Null for a single-node job.", True),
    "domain_path": Fact(S, "The NVLink path between the job's nodes inside the domain, e.g. NV18 (domain …: "
                        "tray-01 ↔ tray-02).", True),
    "domain_busbw_gbps": Fact(F, "All-reduce busbw over it, GB/s: measured between these nodes, else nominal.",
                              True),
    "domain_bw_source": Fact(S, "measured (bench group) or nominal (path rating × efficiency).", True),
    "domain_unhealthy_stages": Fact(L, "The job's own nodes that are unhealthy members of its NVLink domain, with "
                                    "why (fleet mode)."),
    "domain_unhealthy_others": Fact(L, "Other members of the NVLink domain it spans that are not healthy, with "
                                    "why (fleet mode)."),
    "imex_not_ready_stages": Fact(L, "The job's nodes in its NVLink domain whose IMEX was read and is not ready, "
                                  "with what was read (fleet mode)."),
}
_EMPTY: dict[str, Any] = {"nvlink_domain": None, "in_nvlink_domain": None, "domain_path": None,
                          "domain_busbw_gbps": None, "domain_bw_source": None, "domain_unhealthy_stages": [],
                          "domain_unhealthy_others": [], "imex_not_ready_stages": []}


def judge(a: Assessment, topology: Topology, net: NetContext | None, bench: Sequence[BenchResult],
          multi_node: bool) -> dict[str, Any]:
    """The domain facts of one deployment (see the module docstring); Unknown values carry their reason."""
    out = dict(_EMPTY)
    if not multi_node:
        return out
    hosts = net.hosts if net is not None and len(net.hosts) > 1 else ()
    if not hosts:  # one node's report only: where the other nodes sit is not known here
        own = topology.nvlink_domain
        if own is None:
            out["in_nvlink_domain"] = False  # a node in no domain reaches other nodes only over the network
        else:
            why = own.reason if isinstance(own, Unknown) else (
                f"{topology.host} is in NVLink domain {own}; the other nodes' domains are not known here: "
                "check with `--fleet DIR` over their reports")
            out["in_nvlink_domain"] = Unknown(why)
        return out
    assert net is not None
    doms = net.nvlink_domains
    if len(doms) != len(hosts) or doms[0] is None or any(d != doms[0] for d in doms):
        out["in_nvlink_domain"] = False
        return out
    dom = doms[0]
    out["nvlink_domain"] = dom
    out["in_nvlink_domain"] = True
    mine = set(hosts)
    out["domain_unhealthy_stages"] = [u for u in net.domain_unhealthy if u.split(":", 1)[0] in mine]
    out["domain_unhealthy_others"] = [u for u in net.domain_unhealthy if u.split(":", 1)[0] not in mine]
    out["imex_not_ready_stages"] = [f"{h}: {detail}" for h, (state, detail) in zip(hosts, net.imex, strict=False)
                                    if state == "not_ready"]
    path = _tray_path(topology, a)
    measured = _measured(bench, hosts)
    if measured is not None:
        bw, source = measured
    else:
        gp = costmodel.nominal_path(path, a.sku)
        bw, source = gp.bw_gbps, (f"nominal: {path} × {costmodel.EFFICIENCY[gp.kind]:g}" +
                                  (f" at {a.sku.nvlink.link_gbps:g} GB/s per link" if a.sku else ""))
    out["domain_path"] = f"{path} (NVLink domain {dom}: {' ↔ '.join(hosts)})"
    out["domain_busbw_gbps"] = round(bw, 1)
    out["domain_bw_source"] = source
    return out


def group_path(facts: dict[str, Any], topology: Topology, a: Assessment) -> costmodel.GroupPath | None:
    """The path a TP group inside a domain all-reduces over, for the cost model (None outside a domain)."""
    if facts.get("in_nvlink_domain") is not True:
        return None
    path = _tray_path(topology, a)
    source = "measured" if str(facts["domain_bw_source"]).startswith("measured") else "nominal"
    return costmodel.GroupPath(path, float(facts["domain_busbw_gbps"]), source, costmodel.LATENCY_US[path_kind(path)])


def _tray_path(topology: Topology, a: Assessment) -> str:
    """The NVLink path GPUs of the domain reach each other over: the tray's own NV# (every GPU of an NVL72
    rack reaches every other through the same switch trays), else the SKU's expected NV#."""
    nv = [lk.path for lk in topology.gpu_links() if lk.path.startswith("NV") and lk.nvlinks]
    if nv:
        return max(nv, key=lambda p: int(p[2:]))
    expected = a.sku.nvlink.expected if a.sku is not None else 0
    return f"NV{expected}" if expected else "NV18"


def _measured(bench: Sequence[BenchResult], hosts: Sequence[str]) -> tuple[float, str] | None:
    """The best correct busbw of a bench group spanning exactly these hosts (inside one domain it is an
    NVLink figure, so a pair measured elsewhere does not stand in for it)."""
    want = frozenset(hosts)
    best: BenchResult | None = None
    for r in bench:
        if r.spans_hosts and not r.error and r.correct and r.busbw_gbps > 0 and frozenset(r.hosts) == want and (
                best is None or r.busbw_gbps > best.busbw_gbps):
            best = r
    if best is None:
        return None
    return best.busbw_gbps, (f"measured: {best.label or 'bench'} {' ↔ '.join(dict.fromkeys(best.hosts))}, "
                             f"{format_size(best.bytes)}")
