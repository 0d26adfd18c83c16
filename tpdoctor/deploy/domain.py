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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpdoctor.advice import costmodel
from tpdoctor.engine.schema import B, Fact, L, S
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.sizes import format_size
from tpdoctor.model.topology import Topology
from tpdoctor.model.unknown import Unknown

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment
    from tpdoctor.deploy.crossnode import NetContext

DOMAIN_FACTS: dict[str, Fact] = {
    "nvlink_domain": Fact(S, "The multi-node NVLink domain (`<ClusterUUID>.<CliqueId>`) every node of a multi-node "
                          "job is in; null when they are in none or in different ones.", True),
    "in_nvlink_domain": Fact(B, "Every node of a multi-node job is in one multi-node NVLink domain: its TP group "
                             "crosses nodes over NVLink, not the network. Null for a single-node job.", True),
    "domain_unhealthy_stages": Fact(L, "The job's own nodes that are unhealthy members of its NVLink domain, with "
                                    "why (fleet mode)."),
    "domain_unhealthy_others": Fact(L, "Other members of the NVLink domain it spans that are not healthy, with "
                                    "why (fleet mode)."),
    "imex_not_ready_stages": Fact(L, "The job's nodes in its NVLink domain whose IMEX was read and is not ready, "
                                  "with what was read (fleet mode)."),
}
_EMPTY: dict[str, Any] = {"nvlink_domain": None, "in_nvlink_domain": None, "domain_unhealthy_stages": [],
                          "domain_unhealthy_others": [], "imex_not_ready_stages": []}


@dataclass(frozen=True)
class DomainPath:
    """The path a TP group inside one domain all-reduces over: `net_path`, `net_busbw_gbps`, `net_bw_source`
    carry it (the cross-node path is NVLink there), and the cost model prices it."""

    text: str  # e.g. NV18 (NVLink domain …: a-01 ↔ a-02)
    path: costmodel.GroupPath
    source: str  # measured (bench group) or nominal (path rating × efficiency)


def judge(a: Assessment, topology: Topology, net: NetContext | None, bench: Sequence[BenchResult],
          multi_node: bool) -> tuple[dict[str, Any], DomainPath | None]:
    """The domain facts of one deployment (see the module docstring; Unknown values carry their reason), and
    the NVLink path between its nodes when they share one domain."""
    out = dict(_EMPTY)
    if not multi_node:
        return out, None
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
        return out, None
    assert net is not None
    doms = net.nvlink_domains
    if len(doms) != len(hosts) or doms[0] is None or any(d != doms[0] for d in doms):
        out["in_nvlink_domain"] = False
        return out, None
    dom = doms[0]
    out["nvlink_domain"] = dom
    out["in_nvlink_domain"] = True
    mine = set(hosts)
    out["domain_unhealthy_stages"] = [u for u in net.domain_unhealthy if u.split(":", 1)[0] in mine]
    out["domain_unhealthy_others"] = [u for u in net.domain_unhealthy if u.split(":", 1)[0] not in mine]
    out["imex_not_ready_stages"] = [f"{h}: {detail}" for h, (state, detail) in zip(hosts, net.imex)
                                    if state == "not_ready"]
    path = _tray_path(topology, a)
    measured = _measured(bench, hosts)
    if measured is not None:
        gp = costmodel.measured_path(path, measured[0])
        source = measured[1]
    else:
        gp = costmodel.nominal_path(path, a.sku)
        source = (f"nominal: {path} × {costmodel.EFFICIENCY[gp.kind]:g}" +
                  (f" at {a.sku.nvlink.link_gbps:g} GB/s per link" if a.sku else ""))
    return out, DomainPath(f"{path} (NVLink domain {dom}: {' ↔ '.join(hosts)})", gp, source)


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
