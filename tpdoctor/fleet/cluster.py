"""Cluster-wide `check-deployment`: every deployment checked on the node it names (or where the fleet has
room for it), multi-node jobs across the nodes they span, with the same rules as on one node.

Steps, each linear in deployments and nodes:
1. Deployments pinned to a node and GPUs hold those GPUs (overlaps are findings, TPD207).
2. The others are placed, in manifest order (`fleet.assign` over `fleet.placer`): a named node's best free
   group, else the best free group anywhere (a multi-node job: one group per node on `nodes` different
   nodes). Stale nodes are never used for placement; a deployment pinned to a stale node is checked on it.
3. Each deployment is assessed on its node (a multi-node job on the node of its weakest stage) by
   `deploy.assess`, and its facts built by `deploy.facts`. Deployments with the same shape (everything but
   the name) on nodes in the same state (shape + GPUs held by others) share one assessment and one set of
   facts; only the name, source and host differ. Multi-node jobs get their cross-node facts (NET path from
   the nodes' measured inter-node bench results, NIC locality of every stage) each.
4. The deployment rules run once per distinct fact set; each deployment of a set gets the findings,
   rendered with its own name. A broken or PCIe group whose node has nothing better is offered the best
   free group elsewhere in the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tpdoctor.advice.placement import Group, PairTable
from tpdoctor.deploy import costs
from tpdoctor.deploy.assess import Assessment, assess
from tpdoctor.deploy.check import attach_bench, read_manifests, resolve_overlaps
from tpdoctor.deploy.crossnode import NetContext, measured_between
from tpdoctor.deploy.facts import DEPLOYMENT_SCHEMA, subject
from tpdoctor.deploy.questions import Question, ask_fleet, critical_ids, verdict
from tpdoctor.engine.evaluate import Engine, Options
from tpdoctor.engine.rule import Rule
from tpdoctor.engine.schema import UNKNOWN_FIELD, ScopeFacts
from tpdoctor.fleet.assign import Fits, Placement, label_of, place_all
from tpdoctor.fleet.domains import NvlinkDomain, group_domains
from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.judged import Judge, judged
from tpdoctor.fleet.load import FleetInput, MergeProblem, load_fleet
from tpdoctor.fleet.placer import Placer, Shapes
from tpdoctor.fleet.view import problem_findings as fleet_problem_findings
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.findings import SEVERITY_ORDER, Finding, Status
from tpdoctor.model.imex import imex_state
from tpdoctor.model.topology import Topology


@dataclass(frozen=True)
class ClusterResult:
    findings: tuple[Finding, ...]
    status: Status
    placements: tuple[Placement, ...]
    assessments: tuple[Assessment, ...]  # shared between equal deployments: use placements for names
    facts: tuple[dict[str, Any], ...]
    problems: tuple[MergeProblem, ...]
    nodes: int
    stale_nodes: int
    stats: dict[str, float] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()  # the critical questions left open (deploy/questions.ask_fleet)


def _shape_key(d: Deployment) -> tuple[Any, ...]:
    return (d.engine, d.model, d.kind, d.dtype, d.kv_cache_dtype, d.tp, d.pp, d.replicas, d.nodes, d.gpus,
            d.gpu_count, d.max_model_len, d.max_num_seqs, d.gpu_memory_utilization, d.latency_objective_ms,
            tuple(sorted(d.env.items())), d.notes)


def check_cluster(manifests: Sequence[Path], fleet_paths: Sequence[Path], rules: Sequence[Rule], *,
                  max_age: timedelta | None = None, options: Options | None = None,
                  judge: Judge | None = None, accept: Mapping[str, str] | None = None,
                  model_configs: Mapping[str, Path] | None = None) -> ClusterResult:
    """`check-deployment --fleet`: read the manifests (while worker processes parse the node reports) and
    the fleet, then check every deployment across it. With no usable node report the result is UNKNOWN,
    with the merge problems as its findings."""
    with gc_paused():  # thousands of reports and deployments, all alive until the end
        read: list[Deployment] = []
        loaded = load_fleet(fleet_paths, max_age=max_age, meanwhile=lambda: read.extend(read_manifests(manifests)))
        fleet = judged(loaded, judge)
        return _check(read, fleet, rules, options, manifests[0].parent if manifests else None, accept,
                      model_configs)


def check_fleet(deployments: Sequence[Deployment], fleet: FleetInput, rules: Sequence[Rule], *,
                options: Options | None = None, base_dir: Path | None = None,
                accept: Mapping[str, str] | None = None,
                model_configs: Mapping[str, Path] | None = None) -> ClusterResult:
    """Check every deployment against the fleet (see the module docstring). `model_configs`: config.json paths
    by model as written (`--model-config`; key "" is every deployment's)."""
    with gc_paused():
        return _check(deployments, fleet, rules, options, base_dir, accept, model_configs)


def _node_inputs(fleet: FleetInput) -> tuple[dict[str, Topology], dict[str, tuple[BenchResult, ...]],
                                               dict[str, list[BenchResult]]]:
    """Per usable node: its topology with measured busbw on the links, its local bench results, and the
    cross-node results that involve it."""
    topo_of: dict[str, Topology] = {}
    local_bench: dict[str, tuple[BenchResult, ...]] = {}
    cross: dict[str, list[BenchResult]] = {}
    for node in fleet.nodes:
        local = tuple(r for r in node.report.bench if not r.spans_hosts)
        for r in node.report.bench:
            if r.spans_hosts:
                for h in set(r.hosts):
                    cross.setdefault(h, []).append(r)
        topo_of[node.host] = attach_bench(node.report.topology, local) if local else node.report.topology
        local_bench[node.host] = local
    return topo_of, local_bench, cross


@dataclass
class _Assessor:
    """Step 3 of the module docstring: assess each placement on its node, sharing equal assessments."""

    topo_of: dict[str, Topology]
    local_bench: dict[str, tuple[BenchResult, ...]]
    cross: dict[str, list[BenchResult]]
    placer: Placer
    holders: dict[str, dict[str, Any]]
    fallback: str | None
    base_dir: Path | None
    domains: dict[str, NvlinkDomain] = field(default_factory=dict)  # multi-node NVLink domains by id
    configs: Mapping[str, Path] = field(default_factory=dict)  # --model-config, by model as written
    cache: dict[tuple[Any, ...], tuple[Assessment, dict[str, Any]]] = field(default_factory=dict)
    predictions: costs.Memo = field(default_factory=dict)  # cost-model predictions, shared by equal questions
    assessments: list[Assessment] = field(default_factory=list)
    subjects: list[dict[str, Any]] = field(default_factory=list)
    group_keys: list[tuple[Any, ...] | None] = field(default_factory=list)  # equal keys: equal facts but names
    clashes: dict[str, list[tuple[int, Assessment, NetContext | None]]] = field(default_factory=dict)
    calls: int = 0

    def add(self, p: Placement) -> None:
        d = p.deployment
        check_host, stage_info = _check_stage(p, self.placer, self.topo_of)
        host = check_host or self.fallback
        assert host is not None  # check_fleet returns early for an empty fleet
        topo = self.topo_of[host]
        held_by = {name: gpus for name, gpus in self.holders.get(host, {}).items() if name != d.name}
        multi = d.nodes > 1 or len(p.stages) > 1
        dep = d
        if d.node is not None and d.node != check_host:  # checked where the fleet has room
            dep = dep.with_values(node=None)
        if multi and check_host is not None and dict(p.stages).get(check_host):
            dep = dep.with_values(gpus=dict(p.stages)[check_host])  # the group this stage gets
        if p.note:
            dep = dep.with_values(notes=(*dep.notes, p.note))
        held = frozenset(g for gs in held_by.values() for g in gs)
        cacheable = (not multi and not d.gpu_uuids and not (set(dep.gpus or ()) & held)
                     and max(dep.gpus or (0,)) < len(topo.gpus) and host in self.placer)
        key = (_shape_key(dep), self.placer.shape[host], held) if cacheable else None
        hit = self.cache.get(key) if key is not None else None
        if hit is None:
            self.calls += 1
            a = assess(dep, topo, bench=self.local_bench.get(host, ()), base_dir=self.base_dir, held_by=held_by,
                       table=self.placer.table(host) if host in self.placer else None,
                       model_config=self.configs.get(d.model) or self.configs.get(""), memo=self.predictions)
            net = _net_context(p, check_host, stage_info, self.topo_of, self.cross, self.domains) if multi else None
            if a.overlap:  # facts after the clash is resolved across the node (who keeps, who moves)
                key = None
                self.clashes.setdefault(host, []).append((len(self.subjects), a, net))
            base = subject(a, topo, net=net, bench=self.cross.get(host, ()))
            if key is not None:
                self.cache[key] = (a, base)
            facts = base
        else:
            a, base = hit
            facts = dict(base)
            facts["id"] = facts["name"] = d.name
        facts["source"] = d.origin("tp").where() if "tp" in d.origins else d.source
        facts["host"] = host
        facts["placement"] = "; ".join(label for label, _ in stage_info) if stage_info else None
        if not multi and a.group is not None and a.best is None and host in self.placer:
            elsewhere = _fleet_move(a, host, self.placer)
            if elsewhere is not None:
                facts = {**facts, "move_advice": elsewhere,
                         "advice": "; or ".join(x for x in (elsewhere, facts.get("replica_advice")) if x)}
                key = None  # this deployment's facts are its own now
        self.assessments.append(a)
        self.subjects.append(facts)
        self.group_keys.append(key)

    def resolve_clashes(self) -> None:
        """Deployments sharing GPUs on a node: who keeps them, who moves (their facts say which)."""
        for host, items in self.clashes.items():
            table = self.placer.table(host) if host in self.placer else PairTable(self.topo_of[host])
            resolved = resolve_overlaps(tuple(a for _, a, _ in items), self.topo_of[host], table)
            for (i, _, net), a in zip(items, resolved):
                keep = {k: self.subjects[i][k] for k in ("source", "host", "placement")}
                self.subjects[i] = {**subject(a, self.topo_of[host], net=net, bench=self.cross.get(host, ())), **keep}
                self.assessments[i] = a


def _check(deployments: Sequence[Deployment], fleet: FleetInput, rules: Sequence[Rule], options: Options | None,
           base_dir: Path | None, accept: Mapping[str, str] | None = None,
           model_configs: Mapping[str, Path] | None = None) -> ClusterResult:
    t0 = time.perf_counter()
    topo_of, local_bench, cross = _node_inputs(fleet)
    stale = {n.host for n in fleet.nodes if n.stale}
    problem_findings = list(fleet_problem_findings(fleet.problems, rules))
    if not topo_of:  # no usable report at all: nothing to check against
        findings = tuple(problem_findings)
        return ClusterResult(findings, Status.UNKNOWN, tuple(Placement(d, (), "unplaced") for d in deployments),
                             (), (), fleet.problems, 0, 0)
    shapes = Shapes()
    domains = group_domains(fleet.nodes)[0]
    placer = Placer(((h, topo_of[h], local_bench[h]) for h in sorted(topo_of) if h not in stale), shapes,
                    domains=domains)
    configs = model_configs or {}
    placements, holders = place_all(deployments, placer, stale, set(topo_of), Fits(shapes, base_dir, configs))
    t_place = time.perf_counter()
    fallback = next((h for h in sorted(topo_of) if h not in stale), next(iter(sorted(topo_of)), None))
    run = _Assessor(topo_of, local_bench, cross, placer, holders, fallback, base_dir, {d.id: d for d in domains},
                    configs=configs)
    for p in placements:
        run.add(p)
    run.resolve_clashes()
    t_assess = time.perf_counter()

    engine = Engine(rules, DEPLOYMENT_SCHEMA, options)
    evaluated, cel_calls = _evaluate_grouped(engine, run.subjects, run.group_keys)
    findings = tuple(problem_findings) + evaluated
    t_end = time.perf_counter()
    keys = run.group_keys
    stats = {"place_seconds": t_place - t0, "assess_seconds": t_assess - t_place,
             "rules_seconds": t_end - t_assess, "assess_calls": float(run.calls),
             "deployments": float(len(placements)), "cel_evaluations": float(cel_calls),
             "distinct_fact_sets": float(len(set(k if k is not None else ("one", i) for i, k in enumerate(keys))))}
    questions = ask_fleet(run.assessments, run.subjects, evaluated, critical_ids(rules), accept)
    return ClusterResult(findings, verdict(findings, questions), tuple(placements), tuple(run.assessments),
                         tuple(run.subjects), fleet.problems, len(fleet.nodes), len(stale), stats, questions)


def _check_stage(p: Placement, placer: Placer,
                 topo_of: dict[str, Topology]) -> tuple[str | None, list[tuple[str, tuple[str, Group | None]]]]:
    """The node a deployment is checked on (a multi-node job: its weakest stage) and each stage's label."""
    info: list[tuple[str, tuple[str, Group | None]]] = []
    worst: tuple[Any, str] | None = None
    for host, gpus in p.stages:
        group = placer.table(host).group(gpus) if gpus and host in placer else None
        info.append((label_of(host, group, gpus), (host, group)))
        rank = group.key[:3] if group is not None else ((-1,), 0.0, 0)
        if worst is None or rank > worst[0]:
            worst = (rank, host)
    return (worst[1] if worst else None), info


def _net_context(p: Placement, check_host: str | None, stage_info: list[tuple[str, tuple[str, Group | None]]],
                 topo_of: dict[str, Topology], cross: dict[str, list[BenchResult]],
                 domains: dict[str, NvlinkDomain]) -> NetContext:
    hosts = tuple(h for h, _ in p.stages)
    doms = tuple(d if isinstance(d := topo_of[h].nvlink_domain, str) else None for h in hosts)
    shared = domains.get(doms[0]) if doms and doms[0] is not None and len(set(doms)) == 1 else None
    results = [r for h in hosts for r in cross.get(h, ())]
    measured = measured_between(results, hosts) if len(hosts) > 1 else None
    others = [(h, g) for h, g in p.stages if h != check_host and g]
    return NetContext(hosts=hosts, measured_gbps=measured[0] if measured else None,
                      measured_detail=measured[1] if measured else None,
                      stage_nodes=tuple(label for label, _ in stage_info),
                      placement="; ".join(label for label, _ in stage_info),
                      stage_topologies=tuple(topo_of[h] for h, _ in others),
                      stage_groups=tuple(g for _, g in others if g), nvlink_domains=doms,
                      domain_unhealthy=shared.unhealthy if shared is not None else (),
                      imex=tuple(imex_state(topo_of[h].imex) for h in hosts))


def _evaluate_grouped(engine: Engine, subjects: list[dict[str, Any]],
                      keys: Sequence[tuple[Any, ...] | None]) -> tuple[tuple[Finding, ...], int]:
    """Run the rules once per distinct fact set, then give each member of a set the findings of its
    representative, rendered with the member's own facts (name, source, host, placement)."""
    rep_of: dict[tuple[Any, ...], int] = {}
    members: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        r = i if key is None else rep_of.setdefault(key, i)
        members.setdefault(r, []).append(i)
    reps = list(members)
    names = [subjects[r]["name"] for r in reps]
    if len(set(names)) != len(names):  # duplicate deployment names: findings cannot be told apart
        ev = engine.evaluate(ScopeFacts("deployment", {"deployment": subjects}))
        return ev.findings, ev.evaluations
    ev = engine.evaluate(ScopeFacts("deployment", {"deployment": [subjects[r] for r in reps]}))
    rep_by_name = dict(zip(names, reps))
    rules = {c.rule.id: c.rule for c in engine.compiled}
    out: list[Finding] = []
    for f in ev.findings:
        r = rep_by_name[f.subject]
        out.append(f)
        rule = rules.get(f.rule)
        for i in members[r][1:]:
            facts = subjects[i]
            name = str(facts["name"])
            if not f.judged or rule is None:
                out.append(replace(f, subject=name, message=name + f.message[len(f.subject):]))
                continue
            ctx = {"deployment": facts}
            out.append(replace(f, subject=name, message=rule.message.render(ctx),
                               recommendation=rule.recommendation.render(ctx),
                               evidence={k: v for k, v in facts.items() if k != UNKNOWN_FIELD and v is not None}))
    out.sort(key=lambda f: (1 if f.suppressed else 0, -SEVERITY_ORDER[f.severity], f.rule, f.subject))
    return tuple(out), ev.evaluations


def _fleet_move(a: Assessment, host: str, placer: Placer) -> str | None:
    """When the group is broken or PCIe and its own node has nothing better, the best free group of the
    same size on another node, if its weakest path is strictly better."""
    group = a.group
    assert group is not None
    if not a.broken_pairs and (group.weakest_path is None or group.weakest_path.startswith("NV")):
        return None
    found = placer.best_elsewhere(len(group.gpus), host)
    if found is None or found[1].weakest_quality >= group.weakest_quality:
        return None
    other, g = found
    return (f"move it to {other} {g.label} ({g.weakest_path}), the best free group of {len(g.gpus)} GPUs in the "
            f"fleet (this node has none better)")
