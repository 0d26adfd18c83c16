"""The cluster view built from node reports: nodes by status, broken links, NIC affinity, free GPUs, and
the measured inter-node paths (NET) from multi-node benchmark results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tpdoctor.engine.evaluate import evaluate
from tpdoctor.engine.loader import load_rules
from tpdoctor.engine.rule import Rule
from tpdoctor.fleet.domains import NvlinkDomain, group_domains
from tpdoctor.fleet.facts import FLEET_SCHEMA, fleet_facts
from tpdoctor.fleet.load import FleetInput, MergeProblem, NodeReport
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.findings import Finding, Status, status_of
from tpdoctor.model.topology import Link, LinkHealth, Topology, healthy_nvlink_groups, path_sort_key
from tpdoctor.model.unknown import Unknown


@dataclass(frozen=True)
class NodeSummary:
    host: str
    status: str
    gpus: int
    gpu_models: dict[str, int]
    links_down: int
    links_degraded: int
    captured_at: str
    stale: bool
    source: str


@dataclass(frozen=True)
class BadLink:
    host: str
    a: str
    b: str
    path: str
    nvlinks: int
    nvlinks_expected: int | None
    health: str


@dataclass(frozen=True)
class NicAffinity:
    host: str
    gpu: int
    nic: str | None  # label of the nearest NIC, e.g. NIC0
    nic_name: str | None  # e.g. mlx5_0
    path: str | None  # PIX, PXB … SYS; None when the node has no NIC


@dataclass(frozen=True)
class Domain:
    """GPUs of one node joined by healthy NVLinks (a singleton for a PCIe-only GPU)."""

    host: str
    gpus: tuple[int, ...]
    free: tuple[int, ...]
    model: str
    weakest_path: str | None  # weakest path inside the domain; None for a singleton


@dataclass(frozen=True)
class InterNodeLink:
    """One all-reduce group that crossed the network between nodes (path NET), from the nodes' `bench`."""

    hosts: tuple[str, ...]  # the nodes it spans, in rank order (a pair: the node pair)
    ranks: tuple[int, ...]  # global ranks of the group (torchrun: node rank × ranks per node + local rank)
    local_ranks: tuple[int, ...]  # each member's local rank (its GPU on its node with nccl)
    label: str | None  # node-pairs | job
    backend: str
    busbw_gbps: float | None  # peak over sizes; None when no size succeeded
    bytes: int | None  # the size at the peak
    error: str | None  # the first error of a failed size
    reported_by: tuple[str, ...]  # hosts whose reports hold this measurement
    path: str = "NET"  # NET, or "NVLink domain" when every host is in one multi-node NVLink domain
    domains: tuple[str | None, ...] = ()  # each host's multi-node NVLink domain (None: none, or not known)


@dataclass(frozen=True)
class FleetView:
    nodes: tuple[NodeSummary, ...]
    bad_links: tuple[BadLink, ...]
    nic_affinity: tuple[NicAffinity, ...]
    domains: tuple[Domain, ...]
    findings: tuple[Finding, ...]
    status: Status
    inventory: dict[str, int] = field(default_factory=dict)  # "<model> x<size>" -> free domains count
    inter_node: tuple[InterNodeLink, ...] = ()
    nvlink_domains: tuple[NvlinkDomain, ...] = ()  # multi-node NVLink domains (fleet/domains.py)
    nvlink_domain_unknown: tuple[str, ...] = ()  # "host: why" for nodes whose domain cannot be told


def nvlink_domains(topo: Topology) -> list[list[int]]:
    """Connected components of GPUs over healthy NVLink links, sorted."""
    return healthy_nvlink_groups(topo)


def _weakest(topo: Topology, gpus: list[int]) -> str | None:
    paths = [lk.path for lk in topo.gpu_links() if lk.indices[0] in gpus and lk.indices[1] in gpus]
    return max(paths, key=path_sort_key) if paths else None


def _nic_affinity(node: NodeReport) -> list[NicAffinity]:
    """Each GPU's closest NIC (one pass over the links: a fleet has thousands of nodes)."""
    topo = node.report.topology
    names = {n.label: (None if isinstance(n.name, Unknown) else n.name) for n in topo.nics}
    closest: dict[str, Link] = {}
    for lk in topo.links:
        if lk.b.startswith("NIC"):
            best = closest.get(lk.a)
            if best is None or path_sort_key(lk.path) < path_sort_key(best.path):
                closest[lk.a] = lk
    out = []
    for g in topo.gpus:
        best = closest.get(g.label)
        out.append(NicAffinity(node.host, g.index, best.b if best else None,
                               names.get(best.b) if best else None, best.path if best else None))
    return out


def inter_node_links(nodes: Iterable[NodeReport]) -> list[InterNodeLink]:
    """Groups whose members sit on different hosts, once each: the same measurement in several nodes'
    reports (every node of a job reports it) is merged; the newest report's figures win."""
    nodes = list(nodes)
    found: dict[tuple[tuple[str, ...], tuple[int, ...], str | None], list[BenchResult]] = {}
    seen_in: dict[tuple[tuple[str, ...], tuple[int, ...], str | None], list[str]] = {}
    for node in sorted(nodes, key=lambda n: n.report.topology.captured_at, reverse=True):
        mine: dict[tuple[tuple[str, ...], tuple[int, ...], str | None], list[BenchResult]] = {}
        for r in node.report.bench:
            if r.spans_hosts:
                mine.setdefault((r.hosts, r.group, r.label), []).append(r)
        for key, results in mine.items():
            found.setdefault(key, results)
            seen_in.setdefault(key, []).append(node.host)
    domain_of = {n.host: d for n in nodes if isinstance(d := n.report.topology.nvlink_domain, str)}
    out = []
    for (hosts, ranks, label), results in found.items():
        good = [r for r in results if r.error is None and r.correct]
        best = max(good, key=lambda r: r.busbw_gbps) if good else None
        error = next((r.error for r in results if r.error), None)
        members = tuple(dict.fromkeys(hosts))
        doms = tuple(domain_of.get(h) for h in members)
        shared = doms[0] is not None and len(set(doms)) == 1
        out.append(InterNodeLink(
            hosts=members, ranks=ranks, local_ranks=results[0].local_ranks, label=label,
            backend=results[0].backend, busbw_gbps=best.busbw_gbps if best else None,
            bytes=best.bytes if best else None, error=error, reported_by=tuple(sorted(seen_in[(hosts, ranks, label)])),
            path="NVLink domain" if shared else "NET", domains=doms))
    return sorted(out, key=lambda lk: (len(lk.ranks), lk.hosts, lk.ranks))


def problem_findings(problems: Sequence[MergeProblem], rules: Sequence[Rule] | None = None,
                     domains: Sequence[NvlinkDomain] = ()) -> tuple[Finding, ...]:
    """Merge problems (and multi-node NVLink domains) judged by the fleet rules (TPD3xx in rules/fleet/)."""
    if not problems and not domains:
        return ()
    if rules is None:
        rules = load_rules([FLEET_SCHEMA])
    return evaluate(rules, FLEET_SCHEMA, fleet_facts(problems, domains)).findings


def build_view(fleet: FleetInput, held: Mapping[str, set[int]] | None = None,
               rules: Sequence[Rule] | None = None) -> FleetView:
    held = held or {}
    nodes, bad, affinity, domains = [], [], [], []
    nvl, nvl_unknown = group_domains(fleet.nodes)
    findings = list(problem_findings(fleet.problems, rules, nvl))
    for node in fleet.nodes:
        topo = node.report.topology
        down = degraded = 0
        for lk in topo.gpu_links():
            if lk.health in (LinkHealth.DOWN, LinkHealth.DEGRADED):
                down += lk.health is LinkHealth.DOWN
                degraded += lk.health is LinkHealth.DEGRADED
                exp = lk.nvlinks_expected if isinstance(lk.nvlinks_expected, int) else None
                bad.append(BadLink(node.host, lk.a, lk.b, lk.path, lk.nvlinks, exp, lk.health.value))
        status = node.report.status.value if not node.stale else Status.UNKNOWN.value
        models = Counter(g.name for g in topo.gpus)
        nodes.append(NodeSummary(node.host, status, len(topo.gpus), dict(models), down, degraded,
                                 topo.captured_at, node.stale, node.source))
        affinity.extend(_nic_affinity(node))
        findings.extend(node.report.findings)
        if node.stale:
            continue  # not trusted for placement
        taken = held.get(node.host, set())
        for comp in nvlink_domains(topo):
            model = topo.gpu(comp[0]).name
            domains.append(Domain(node.host, tuple(comp), tuple(i for i in comp if i not in taken), model,
                                  _weakest(topo, comp) if len(comp) > 1 else None))
    inventory = Counter(f"{d.model} x{len(d.free)}" for d in domains if d.free)
    worst = status_of(findings)
    if any(n.status == Status.CRITICAL.value for n in nodes):
        worst = Status.CRITICAL
    return FleetView(tuple(nodes), tuple(bad), tuple(affinity), tuple(domains), tuple(findings), worst,
                     dict(sorted(inventory.items())), tuple(inter_node_links(fleet.nodes)), nvl, nvl_unknown)
