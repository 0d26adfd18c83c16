"""Judge the groups running on a node: each read group is a deployment on the live topology.

`judge` groups the processes (`running/groups.py`), reads each group's launch into a Deployment
(`running/deployments.py`), checks the deployments with the deployment rules exactly as `check-deployment`
does for a manifest pinned to the GPUs the group holds (the rules `data/running.yaml` lists as not
applicable to a running engine are left out), and evaluates the running-group rules (TPD240–TPD249) on every
group. Each group gets a status: critical or warning by its active findings, unknown when a rule of warning
or higher severity could not judge it (an info rule that could not judge is left out: advice, not a check).
`combine` puts the groups' findings in front of the node's, so the first line a monitor shows is the
group's ("vllm (pod default/llama-0): TP=2 on GPU0+GPU1 includes GPU0-GPU1 (NVLink 0/12 up …)").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tpdoctor.deploy.check import CheckResult, check
from tpdoctor.engine.evaluate import Options, evaluate
from tpdoctor.engine.rule import Rule
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.coverage import with_coverage
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.engine_procs import structure
from tpdoctor.model.errors import TpdError
from tpdoctor.model.findings import Finding, Report, Severity, Status
from tpdoctor.model.running import RunningGroup
from tpdoctor.model.topology import Topology
from tpdoctor.model.unknown import Unknown
from tpdoctor.node.verdict import decide
from tpdoctor.running import processes as procs
from tpdoctor.running.deployments import Place, deployment, engine_of, place
from tpdoctor.running.facts import RUNNING_SCHEMA, GroupInput, running_facts
from tpdoctor.running.groups import Candidate, find_groups, split_by_dp

SCOPES = ("node", "deployment", "running")  # the rule scopes a command that judges running groups loads


@dataclass(frozen=True)
class Judged:
    topology: Topology  # `running.groups` filled, each with its status
    findings: tuple[Finding, ...]  # about the groups (deployment and running scopes)
    result: CheckResult | None  # the deployment check of the read groups (check-deployment --running)


def _label(cand: Candidate, where: Place) -> str:
    engine = engine_of(cand) if cand.launch is not None or cand.ray_job is not None else None
    if engine is None:
        root = cand.root or cand.holders[0]
        words = procs.argv(root)
        engine = procs.base(words[0])[:40] if words else (root.name or f"pid {root.pid}")
    return f"{engine}{f' DP{cand.dp}' if cand.dp is not None else ''} ({where.where})"


def _names(cands: Sequence[Candidate], places: Sequence[Place]) -> list[str]:
    labels = [_label(c, p) for c, p in zip(cands, places)]
    out = []
    for c, label in zip(cands, labels):
        if labels.count(label) > 1 and c.root is not None:
            label = f"{label[:-1]}, pid {c.root.pid})"
        out.append(label)
    return out


def _inputs(topology: Topology) -> tuple[list[GroupInput], list[Deployment], list[tuple[Candidate, Place]]]:
    running = topology.running
    assert running is not None
    cands = [part for c in find_groups(running) for part in split_by_dp(c, running)]
    places = [place(c) for c in cands]
    inputs: list[GroupInput] = []
    deployments: list[Deployment] = []
    for cand, where, name in zip(cands, places, _names(cands, places)):
        try:
            dep = deployment(cand, name)
        except TpdError as exc:
            dep = f"its launch could not be read: {exc.message}"
        inputs.append(GroupInput(name, cand.all_gpus, tuple(h.pid for h in cand.holders), where.runtime, where.where,
                                 cand.how, dep if isinstance(dep, Deployment) else None,
                                 dep if isinstance(dep, str) else None))
        if isinstance(dep, Deployment):
            deployments.append(dep)
    return inputs, deployments, list(zip(cands, places))


def _kept(findings: Sequence[Finding]) -> list[Finding]:
    """Active findings and the could-not-judge ones of warning or critical rules (those are gaps)."""
    return [f for f in findings if f.judged or f.severity is not Severity.INFO]


def _status(name: str, findings: Sequence[Finding]) -> tuple[str, tuple[str, ...]]:
    mine = [f for f in findings if f.subject == name and not f.suppressed]
    active = [f for f in mine if f.judged]
    fired = tuple(dict.fromkeys(f.rule for f in active if f.severity is not Severity.INFO))
    if any(f.severity is Severity.CRITICAL for f in active):
        return "critical", fired
    if any(not f.judged for f in mine):
        return "unknown", fired
    return ("warning" if any(f.severity is Severity.WARNING for f in active) else "ok"), fired


def judge(topology: Topology, rules: Sequence[Rule], *, options: Options | None = None,
          bench: Sequence[BenchResult] = ()) -> Judged:
    running = topology.running
    if running is None or running.table_unread is not None:
        return Judged(topology, (), None)
    inputs, deployments, found = _inputs(topology)
    skip = structure().not_applied
    result = None
    findings: list[Finding] = []
    if deployments:
        result = check(deployments, topology, [r for r in rules if r.scope == "deployment" and r.id not in skip],
                       bench=bench, options=options)
        findings += _kept(result.report.findings)
    running_rules = [r for r in rules if r.scope == "running"]
    if inputs and running_rules:
        findings += _kept(evaluate(running_rules, RUNNING_SCHEMA, running_facts(inputs, topology), options).findings)
    groups = tuple(_group(g, cand, where, findings) for g, (cand, where) in zip(inputs, found))
    return Judged(replace(topology, running=replace(running, groups=groups)), tuple(findings), result)


def _group(g: GroupInput, cand: Candidate, where: Place, findings: Sequence[Finding]) -> RunningGroup:
    dep = g.deployment
    status, fired = _status(g.name, findings)
    root = cand.root.pid if cand.root is not None else cand.holders[0].pid
    not_read = Unknown(g.why_unread or "not read")
    engine = dep.engine if dep else (engine_of(cand) or not_read)
    return RunningGroup(
        name=g.name, root=root, pids=g.pids, gpus=g.gpus, engine=engine,
        model=(dep.model or Unknown("the Ray driver holds the command line")) if dep else not_read,
        tp=dep.tp if dep else not_read, pp=dep.pp if dep else not_read, runtime=where.runtime,
        container=where.container, pod=where.pod, slurm=where.slurm, ray_job=cand.ray_job,
        cmdline=cand.root.cmdline if cand.root is not None else (), how=g.how,
        notes=tuple(dep.notes) if dep else ((g.why_unread,) if g.why_unread else ()), status=status, rules=fired)


def combine(node: Report, judged: Judged) -> Report:
    """The node's report with the groups in it: their findings first, the status over both (critical >
    unknown > warning > ok, `node/verdict.py`)."""
    topology = with_coverage(replace(node.topology, running=judged.topology.running))
    report = replace(node, topology=topology, findings=(*judged.findings, *node.findings))
    return replace(report, status=decide(report)[0])


def group_status(groups: Sequence[RunningGroup]) -> Status:
    order = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}
    worst = max((g.status for g in groups), key=lambda s: order.get(s, 2), default="ok")
    return Status(worst)
