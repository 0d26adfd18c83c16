"""Multi-node NVLink domains in a fleet: nodes grouped by (ClusterUUID, CliqueId), the key GPUs share when
they reach each other over NVLink across nodes (a GB200/GB300 NVL72 rack, or a partition of one).

Each node report carries its domain (`Topology.nvlink_domain`, "<uuid>.<clique>", filled by the probes);
grouping never uses the clique alone (NVIDIA/nccl#1301: clique ids repeat across racks, and GB200 trays
commonly report the default partition 32766 everywhere). A member is *healthy* when every GPU is read,
registered with the fabric with no health problem, and its NVLink pairs are all up; the others are listed
with why, and are never given to a multi-node job (`fleet/assign.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tpdoctor.engine.schema import INT, Fact, L, S, SubjectSchema
from tpdoctor.fleet.load import NodeReport
from tpdoctor.model import fabric
from tpdoctor.model.imex import imex_state
from tpdoctor.model.topology import LinkHealth, Topology
from tpdoctor.model.unknown import Unknown


@dataclass(frozen=True)
class DomainMember:
    host: str
    gpus: int
    problems: tuple[str, ...]  # why it is not a healthy member; empty when it is
    imex: str  # ready | not_ready | off | unknown
    imex_nodes: tuple[str, ...] | None  # its IMEX nodes_config.cfg, when collected

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class NvlinkDomain:
    """One multi-node NVLink domain of the fleet and its member nodes (trays), by host name."""

    id: str  # "<ClusterUUID>.<CliqueId>" (GFD's nvidia.com/gpu.clique)
    cluster_uuid: str
    clique_id: int
    members: tuple[DomainMember, ...]

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(m.host for m in self.members)

    @property
    def healthy_hosts(self) -> tuple[str, ...]:
        return tuple(m.host for m in self.members if m.healthy)

    @property
    def gpus(self) -> int:
        return sum(m.gpus for m in self.members)

    @property
    def unhealthy(self) -> tuple[str, ...]:
        return tuple(f"{m.host}: {'; '.join(m.problems)}" for m in self.members if m.problems)


def member_problems(topo: Topology) -> tuple[str, ...]:
    """Why a node is not a healthy domain member: lost GPUs, fabric not registered or unhealthy, NVLinks
    down or degraded, in words (GPUs with the same problem named together: "GPU0+GPU1 fabric in progress")."""
    by_problem: dict[str, list[str]] = {}
    for g in topo.gpus:
        if g.status != "ok":
            problem = g.status
        elif fabric.registered(g.fabric) is False:
            problem = f"fabric {fabric.describe(g.fabric)}"
        else:
            serious, transient = fabric.health_problems(g.fabric)
            if not serious and not transient:
                continue
            problem = f"fabric {', '.join((*serious, *transient))}"
        by_problem.setdefault(problem, []).append(g.label)
    out = [f"{'+'.join(gpus)} {problem}" for problem, gpus in by_problem.items()]
    bad = [f"{lk.a}-{lk.b} NVLink {lk.health.value}" for lk in topo.gpu_links()
           if lk.health in (LinkHealth.DOWN, LinkHealth.DEGRADED)]
    return tuple(out + bad[:4] + ([f"{len(bad) - 4} more NVLink pairs"] if len(bad) > 4 else []))


def group_domains(nodes: Iterable[NodeReport]) -> tuple[tuple[NvlinkDomain, ...], tuple[str, ...]]:
    """(the domains, sorted by id; nodes that belong to a domain that cannot be told, as "host: why").
    Stale reports are left out of both (they are not trusted for placement either)."""
    by_id: dict[str, list[DomainMember]] = {}
    unknown: list[str] = []
    for node in nodes:
        topo = node.report.topology
        dom = topo.nvlink_domain
        if dom is None or node.stale:
            continue
        if isinstance(dom, Unknown):
            unknown.append(f"{node.host}: {dom.reason}")
            continue
        state, _ = imex_state(topo.imex)
        listed = topo.imex.config_nodes if topo.imex is not None else None
        by_id.setdefault(dom, []).append(DomainMember(
            node.host, len(topo.gpus), member_problems(topo), state,
            listed if isinstance(listed, tuple) else None))
    domains = []
    for dom, members in sorted(by_id.items()):
        uuid, _, clique = dom.rpartition(".")
        domains.append(NvlinkDomain(dom, uuid, int(clique) if clique.isdigit() else -1,
                                    tuple(sorted(members, key=lambda m: m.host))))
    return tuple(domains), tuple(unknown)


DOMAIN = SubjectSchema("domain", "One multi-node NVLink domain (nodes sharing ClusterUUID and CliqueId). `id` is "
                       "`<ClusterUUID>.<CliqueId>`.", {
    "cluster_uuid": Fact(S, "The NVLink cluster (one NVL72 rack, or an NVL36x2 pair)."),
    "clique_id": Fact(INT, "The partition inside it."),
    "trays": Fact(INT, "Member nodes (compute trays)."),
    "gpus": Fact(INT, "GPUs on the member nodes."),
    "hosts": Fact(L, "Member host names."),
    "unhealthy": Fact(L, "Members that are not healthy, with why (fabric, lost GPUs, NVLinks)."),
    "unhealthy_trays": Fact(INT, "How many."),
    "siblings": Fact(L, "Other domains (partitions) of the same ClusterUUID, with their tray counts."),
    "largest_sibling_trays": Fact(INT, "Trays of the largest sibling partition; 0 when there is none."),
    "imex_not_ready": Fact(L, "Members whose IMEX was read and is not ready."),
    "imex_node_lists": Fact(INT, "Distinct IMEX node lists (nodes_config.cfg) among members that report one; "
                            "more than 1: they disagree."),
})


def domain_subjects(domains: Sequence[NvlinkDomain]) -> list[dict[str, Any]]:
    by_cluster: dict[str, list[NvlinkDomain]] = {}
    for d in domains:
        by_cluster.setdefault(d.cluster_uuid, []).append(d)
    out = []
    for d in domains:
        siblings = [s for s in by_cluster[d.cluster_uuid] if s.id != d.id]
        lists = {m.imex_nodes for m in d.members if m.imex_nodes is not None}
        out.append({
            "id": d.id, "unknown": {}, "cluster_uuid": d.cluster_uuid, "clique_id": d.clique_id,
            "trays": len(d.members), "gpus": d.gpus, "hosts": list(d.hosts), "unhealthy": list(d.unhealthy),
            "unhealthy_trays": sum(1 for m in d.members if m.problems),
            "siblings": [f"{s.id} ({len(s.members)} trays)" for s in siblings],
            "largest_sibling_trays": max((len(s.members) for s in siblings), default=0),
            "imex_not_ready": [m.host for m in d.members if m.imex == "not_ready"],
            "imex_node_lists": len(lists),
        })
    return out
