"""`--fix`: rewrite a manifest in place, same format, minimal diff, from what the assessment found.

Each change edits the exact text a value was read from (`Origin`), so comments, quoting and layout
survive. The plan, in order of what matters most: a TP size the model cannot use (TPD204), a model that
does not fit (TPD205), a TP group across nodes (TPD203), a better GPU group (TPD200/201/206/207/209),
NCCL overrides (TPD208). What cannot be rewritten in place is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdoctor.advice.placement import PairTable, best_group
from tpdoctor.deploy import sentences
from tpdoctor.deploy.assess import Assessment
from tpdoctor.deploy.check import CheckResult, check, check_settings
from tpdoctor.engine.rule import Rule
from tpdoctor.files.atomic import distinct_names, require_directory, write_atomic
from tpdoctor.files.read import read_text as read_file
from tpdoctor.manifests import engineargs, loader
from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.errors import ManifestError, TpdError
from tpdoctor.model.findings import Finding, Severity
from tpdoctor.model.topology import Topology


@dataclass(frozen=True)
class Edit:
    origin: Origin
    old_value: str
    new_value: str
    why: str
    insert_after: str | None = None  # extra text appended after the edited token (a new flag)
    new_key: str | None = None  # a job.yaml key to add beside this one ("pp: 2"): same flow mapping or next line


@dataclass(frozen=True)
class FixPlan:
    edits: tuple[Edit, ...]
    unfixable: tuple[str, ...]
    summary: tuple[str, ...]


def _gpu_text(dep: Deployment, origin: Origin, gpus: Sequence[int]) -> str:
    if origin.text is None:  # a YAML flow list: keep its quoting style
        quoted = dep.kind == "compose"
        items = [f'"{g}"' if quoted else str(g) for g in gpus]
        return "[" + ", ".join(items) + "]"
    return ",".join(str(g) for g in gpus)


def plan(a: Assessment, topology: Topology, held: set[int], table: PairTable | None = None,
         clash: bool = False) -> FixPlan:
    """The edits for one deployment. `held`: GPUs other deployments keep; `clash`: its GPUs collide with a
    deployment that keeps them (it must move)."""
    d = a.deployment
    edits: list[Edit] = []
    unfixable: list[str] = []
    summary: list[str] = []
    t = table or PairTable(topology)
    new_tp, new_pp = d.tp, d.pp
    if a.spec is not None and a.tp_problems:
        fitting = [k for k in a.valid_tp if k <= len(topology.gpus) and (a.min_tp is None or k >= a.min_tp)]
        below = [k for k in fitting if k <= d.tp]
        new_tp = max(below) if below else (min(fitting) if fitting else d.tp)
    elif a.memory is not None and a.memory.fits is False and a.min_tp and a.min_tp <= len(topology.gpus):
        new_tp = a.min_tp
    if d.nodes > 1 and d.tp > (d.gpu_count or len(topology.gpus)) and _cross_node_choice(a, topology) != "keep":
        per_node = d.gpu_count or len(topology.gpus)
        new_tp, new_pp = per_node, d.nodes
    if new_tp != d.tp:
        summary.append(f"TP {d.tp} -> {new_tp}" + (f", PP {d.pp} -> {new_pp}" if new_pp != d.pp else ""))
        edits += _value_edit(d, "tp", str(d.tp), str(new_tp), "TP size", unfixable,
                             extra=_pp_insert(d, new_pp) if new_pp != d.pp else None)
        if new_pp != d.pp and "pp" in d.origins:
            edits += _value_edit(d, "pp", str(d.pp), str(new_pp), "PP size", unfixable)
        if d.gpu_count is not None and "gpu_count" in d.origins and d.gpus is None and d.nodes == 1:
            edits += _value_edit(d, "gpu_count", str(d.gpu_count), str(new_tp * new_pp), "GPU request",
                                 unfixable)
    needed = max(1, new_tp * new_pp // max(d.nodes, 1))
    missing = d.host_gpus is not None and a.gpus is None and d.node in (None, topology.host)
    pinned = a.gpus if a.gpus is not None else (tuple(d.host_gpus or ()) if missing else None)
    if pinned is not None:  # pinned to host GPUs (some of which this node may lack: TPD216)
        target: tuple[int, ...] | None = None
        cand = best_group(topology, needed, exclude=held, table=t)
        cur = t.group(a.gpus) if a.gpus is not None else None
        if needed != len(pinned) or clash or cur is None:
            target = cand.gpus if cand is not None else None
            if cand is None:
                unfixable.append(f"no free group of {needed} GPUs on {topology.host}")
        elif cand is not None and (cand.weakest_quality < cur.weakest_quality or (
                cand.weakest_quality == cur.weakest_quality and cand.numa_nodes < cur.numa_nodes)):
            target = cand.gpus
        if target is not None and tuple(target) != tuple(pinned):
            origin = d.origins.get("gpus")
            old = ",".join(str(i) for i in pinned)
            if origin is None or origin.text is not None and not origin.text.rstrip("'\"").endswith(old):
                named = {"compose": f"device_ids: {[str(i) for i in target]} instead of its count",
                         "docker": f"--gpus '\"device={','.join(str(i) for i in target)}\"'"}.get(d.runtime)
                unfixable.append(f"name host GPUs {'+'.join(f'GPU{i}' for i in target)}: " + (named or "where its "
                                 "host GPUs are named (its GPU setting here is a count or container indices)"))
            else:
                edits.append(Edit(origin, old, _gpu_text(d, origin, target), f"GPUs -> {target}"))
                summary.append("GPUs " + "+".join(f"GPU{i}" for i in pinned) + " -> "
                               + "+".join(f"GPU{i}" for i in target))
        final = target if target is not None else a.gpus
        if new_tp == d.tp and d.tp > 1 and final is not None and _replicas_better(a, t.group(final).gpus):
            edits += _to_replicas(a, unfixable, summary)
    elif a.worst_pair is not None and a.free_best is not None and new_tp == d.tp:
        pin = ", ".join(str(i) for i in a.free_best.gpus)
        if d.kind == "job" and "tp" in d.origins:
            edits.append(Edit(d.origins["tp"], str(d.tp), str(d.tp), "pin GPUs", new_key=f"gpus: [{pin}]"))
            summary.append(f"pin GPUs to {a.free_best.label}")
        else:  # never host indices inside a container: they would name GPUs it does not have
            unfixable.append(f"keep it off the weaker groups: {sentences.placement_fix(a)}")
    if a.memory is not None and a.memory.fits is False and new_tp == d.tp:
        need = f"TP={a.min_tp}" if a.min_tp else "more than 64 GPUs of this kind"
        unfixable.append(f"it starts only with {need}, more than {topology.host} gives it")
    _memory_plan(a, edits, unfixable, summary)
    for var in ("NCCL_P2P_DISABLE", "NCCL_P2P_LEVEL", "NCCL_NVLS_ENABLE"):
        if any(c.startswith(var) for c in a.nccl_conflicts):
            origin = d.origins.get(f"env.{var}")
            new = {"NCCL_P2P_DISABLE": "0", "NCCL_NVLS_ENABLE": "1"}.get(var, "SYS")
            if origin is None:
                unfixable.append(f"{var} has no rewritable origin")
            else:
                edits.append(Edit(origin, d.env[var], new, f"{var} -> {new}"))
                summary.append(f"{var}={d.env[var]} -> {new}")
    return FixPlan(tuple(edits), tuple(unfixable), tuple(summary))


def _memory_plan(a: Assessment, edits: list[Edit], unfixable: list[str], summary: list[str]) -> None:
    """A length above the model's is lowered to the model's; a KV pool short of the concurrency or of one
    request is said, not changed (the concurrency and the length are the user's to choose)."""
    d, spec, mem = a.deployment, a.spec, a.memory
    if a.context_problem and spec is not None and d.max_model_len:
        new = str(spec.max_context)
        edits += _value_edit(d, "max_model_len", str(d.max_model_len), new, "max length", unfixable)
        if edits and edits[-1].why.startswith("max length"):
            summary.append(f"max length {d.max_model_len} -> {new} (the model's max_position_embeddings)")
    if mem is None or not mem.starts:
        return
    if mem.seqs_asked and mem.seqs_held < mem.seqs_asked:
        unfixable.append(f"the KV cache holds {mem.seqs_held} full-length sequences, {mem.seqs_asked} are asked for: "
                         "lower the concurrency setting or give the KV cache more memory")
    if mem.limit:
        unfixable.append(f"{mem.limit}: give the KV cache more memory or lower the maximum length")


def _cross_node_choice(a: Assessment, topology: Topology) -> str | None:
    """TPD203's choice (crossnode_choice.py): "keep" means TP across nodes is predicted best — no rewrite."""
    from tpdoctor.deploy import crossnode

    return crossnode.facts(a, topology).get("cross_node_choice")


def _replicas_better(a: Assessment, final: tuple[int, ...]) -> bool:
    """TP=1 replicas are predicted no worse than the group the deployment ends up on, on its objective
    (cost_facts.replicas_advisable: the same test TPD202 makes)."""
    from tpdoctor.deploy.cost_facts import replicas_advisable

    moved = a.best is not None and tuple(final) == a.best.gpus
    return replicas_advisable(a, "best_prediction" if moved else "current") is True


def _to_replicas(a: Assessment, unfixable: list[str], summary: list[str]) -> list[Edit]:
    d = a.deployment
    if d.kind != "job" or "tp" not in d.origins:
        unfixable.append(f"TP=1 × {d.tp} replicas needs {d.tp} separate engine processes; split the deployment")
        return []
    total = d.tp * d.replicas
    summary.append(f"TP {d.tp} -> 1 × {total} replicas")
    tp_origin = d.origins["tp"]
    if "replicas" in d.origins:
        return [Edit(tp_origin, str(d.tp), "1", "TP size -> 1"),
                Edit(d.origins["replicas"], str(d.replicas), str(total), "replicas")]
    return [Edit(tp_origin, str(d.tp), "1", "TP size -> 1", new_key=f"replicas: {total}")]


def _pp_insert(d: Deployment, pp: int) -> str | None:
    if "pp" in d.origins:
        return None
    flag = engineargs.flag_for(d.engine, "pp")
    origin = d.origins.get("tp")
    if d.kind == "job" or origin is None or origin.fmt != "flag" or flag is None:
        return None
    return f" {flag} {pp}"


def _value_edit(d: Deployment, fieldname: str, old: str, new: str, what: str, unfixable: list[str],
                extra: str | None = None) -> list[Edit]:
    origin = d.origins.get(fieldname)
    if origin is None or origin.text is None or not origin.rewritable:
        why = "comes from a variable or a default" if origin is not None and origin.fmt == "ref" else \
            "was not read from a rewritable value"
        unfixable.append(f"{what} of {d.name} {why}: change it where it is set")
        return []
    if extra is None and fieldname == "tp" and d.kind == "job":
        return [Edit(origin, old, new, f"{what} -> {new}")]
    return [Edit(origin, old, new, f"{what} -> {new}", insert_after=extra)]


def apply(text: str, edits: Sequence[Edit]) -> str:
    """Apply edits to one file's text; edits on one line are applied right to left."""
    lines = text.splitlines(keepends=True)
    located: list[tuple[int, int, int, str]] = []  # line index, start, end, replacement
    new_keys: dict[int, list[str]] = {}
    for e in edits:
        o = e.origin
        if o.line is None or o.fmt == "ref" or o.line > len(lines):
            continue
        li = o.line - 1
        line = lines[li]
        if o.text is None:
            end = o.end_col if o.end_col is not None else len(line.rstrip("\n"))
            located.append((li, o.col, end, e.new_value))
            continue
        pos = line.find(o.text, o.col)
        if pos < 0:
            pos = line.find(o.text)
        if pos < 0:
            continue
        replacement = o.text[: len(o.text) - len(e.old_value)] + e.new_value \
            if o.text.endswith(e.old_value) else e.new_value
        extra = e.insert_after or ""
        if e.new_key is not None:
            if "{" in line[:pos]:  # flow mapping: add the key right after this one
                extra += f", {e.new_key}"
            else:
                new_keys.setdefault(li, []).append(e.new_key)
        located.append((li, pos, pos + len(o.text), replacement + extra))
    for li, start, end, rep in sorted(located, key=lambda x: (x[0], -x[1])):
        line = lines[li]
        lines[li] = line[:start] + rep + line[end:]
    for li, keys in sorted(new_keys.items(), reverse=True):
        indent = len(lines[li]) - len(lines[li].lstrip())
        for key in reversed(keys):
            lines.insert(li + 1, " " * indent + key + "\n")
    return "".join(lines)


class FixSession:
    """GPU ownership across the manifests of one --fix run. Files are fixed in order, deployments in file
    order; the first deployment to claim a GPU keeps it, a later one that collides moves to GPUs nobody holds."""

    def __init__(self, topology: Topology, assessments: Sequence[Assessment]) -> None:
        self.topology = topology
        self.table = PairTable(topology)
        self.holding: dict[int, set[int]] = {id(a): set(a.gpus or ()) for a in assessments}
        self.kept: set[int] = set()  # GPUs of deployments already fixed (final)


def fix_text(text: str, assessments: Sequence[Assessment], topology: Topology,
             session: FixSession | None = None, rules: Sequence[Rule] | None = None,
             source: str = "<fixed>", recheck: Mapping[str, Any] | None = None) -> tuple[str, list[str], list[str]]:
    """The fixed text of one manifest (all its deployments), what changed, and what could not be fixed.
    Pass one `session` for all the manifests of a run so GPU ownership carries across files. With `rules`,
    every deployment's changes are checked again and dropped (and said) when its re-check is worse or still
    critical for the same reason; `recheck` holds the first check's keyword arguments (`check_settings`), so
    the re-check judges with the same options, GPU, bench results and config.json files."""
    s = session or FixSession(topology, assessments)
    for a in assessments:
        s.holding.setdefault(id(a), set(a.gpus or ()))
    plans: list[FixPlan] = []
    for a in assessments:
        held = set().union(*(g for k, g in s.holding.items() if k != id(a)))
        p = plan(a, topology, held, s.table, clash=bool(set(a.gpus or ()) & s.kept))
        new_gpus = next((e.new_value for e in p.edits if e.why.startswith("GPUs")), None)
        if new_gpus is not None:
            s.holding[id(a)] = {int(x) for x in new_gpus.strip("[]").replace('"', "").split(",") if x.strip()}
        s.kept |= s.holding[id(a)]
        d = a.deployment
        tp_edit = next((e for e in p.edits if e.why.startswith("TP")), None)
        if d.kind == "job" and tp_edit and d.nodes > 1 and "pp" not in d.origins and tp_edit.origin.line:
            p = FixPlan(tuple(Edit(e.origin, e.old_value, e.new_value, e.why, new_key=f"pp: {d.nodes}")
                              if e is tp_edit else e for e in p.edits), p.unfixable, p.summary)
        plans.append(p)
    if rules is not None:
        plans = _verified(text, plans, topology, rules, source, recheck or {})
    edits = [e for p in plans for e in p.edits]
    changes = [f"{a.name}: {x}" for a, p in zip(assessments, plans) for x in p.summary]
    problems = [f"{a.name}: {x}" for a, p in zip(assessments, plans) for x in p.unfixable]
    return apply(text, edits), changes, problems


# What each kind of edit is meant to fix (by the start of Edit.why): a GPU move, a TP/PP change, TP=1 replicas …
TARGETS = {"GPUs": {"TPD200", "TPD206", "TPD207", "TPD209", "TPD211", "TPD220"},
           "TP": {"TPD203", "TPD204", "TPD205", "TPD210", "TPD221"}, "PP": {"TPD203", "TPD205"},
           "replicas": {"TPD200", "TPD201", "TPD202"}, "GPU request": {"TPD210"}, "max length": {"TPD214"},
           "NCCL": {"TPD208"}, "pin": {"TPD211"}}


def targets(edits: Sequence[Edit]) -> set[str]:
    """The rules a plan's edits are meant to fix."""
    out: set[str] = set()
    for e in edits:
        for start, rules in TARGETS.items():
            if e.why.startswith(start) or (start == "replicas" and "replicas" in f"{e.why} {e.new_key or ''}") or (
                    start == "NCCL" and e.why.startswith("NCCL_")):
                out |= rules
    return out


def _worse(before: list[Finding], after: list[Finding], aimed: set[str] | None = None) -> str | None:
    """Why a deployment's re-check is not an improvement, or None: a new critical problem, a worse worst
    severity, or still critical for the same reason (none of the critical problems the edits were aimed at
    went away; `aimed`: the rules the edits target, every rule when not given)."""
    crit_b = {f.rule for f in before if f.severity is Severity.CRITICAL}
    crit_a = {f.rule for f in after if f.severity is Severity.CRITICAL}
    meant = crit_b if aimed is None else crit_b & aimed
    if meant and meant <= crit_a:
        return f"the re-check is still critical for the same reason ({', '.join(sorted(meant))})"
    if crit_a - crit_b:
        return f"the re-check finds new critical problems ({', '.join(sorted(crit_a - crit_b))})"
    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
    worst_b = max((rank[f.severity] for f in before), default=-1)
    worst_a = max((rank[f.severity] for f in after), default=-1)
    return "the re-check is worse than now" if worst_a > worst_b else None


def _by_deployment(result: CheckResult) -> list[list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for f in result.report.findings:
        if f.active and f.evidence.get("judged") is not False:
            found.setdefault(f.subject, []).append(f)
    return [found.get(a.sid, []) for a in result.assessments]


def _remaining(p: FixPlan, found: list[Finding]) -> FixPlan:
    """Say which critical problems the fixed file still has (what could not be fixed, never silence)."""
    left = [f"{f.rule} {f.name} remains (critical)" for f in found if f.severity is Severity.CRITICAL]
    said = " ".join(p.unfixable)
    return FixPlan(p.edits, (*p.unfixable, *(x for x in left if x.split(" ", 1)[0] not in said)), p.summary)


def _verified(text: str, plans: list[FixPlan], topology: Topology, rules: Sequence[Rule], source: str,
              settings: Mapping[str, Any]) -> list[FixPlan]:
    """Drop the changes of every deployment whose re-check is worse or still critical for the same reason."""
    before = _by_deployment(check(loader.read_text(text, source), topology, rules, **settings))
    for _ in range(3):
        fixed = apply(text, [e for p in plans for e in p.edits])
        try:
            after = _by_deployment(check(loader.read_text(fixed, source), topology, rules, **settings))
        except TpdError as exc:
            return [FixPlan((), (*p.unfixable, f"not changed: the fixed text would not read ({exc.message})"), ())
                    for p in plans]
        if len(after) != len(before):
            return [FixPlan((), (*p.unfixable, "not changed: the fixed text reads differently"), ()) for p in plans]
        bad = {i: why for i, p in enumerate(plans)
               if p.edits and (why := _worse(before[i], after[i], targets(p.edits)))}
        if not bad:
            return [_remaining(p, found) for p, found in zip(plans, after)]
        plans = [FixPlan((), (*p.unfixable, f"not changed ({'; '.join(p.summary) or 'edits'}): {bad[i]}"), ())
                 if i in bad else p for i, p in enumerate(plans)]
    return plans


@dataclass(frozen=True)
class FixedFile:
    target: Path
    changes: tuple[str, ...]
    problems: tuple[str, ...]  # what could not be fixed


@dataclass(frozen=True)
class FixOutcome:
    files: tuple[FixedFile, ...]
    recheck: CheckResult  # the fixed manifests checked again, with the same rules and options


def fix_files(manifests: Sequence[Path], result: CheckResult, topology: Topology, out: Path,
              rules: Sequence[Rule], settings: Mapping[str, Any] | None = None) -> FixOutcome:
    """`--fix OUT`: write each manifest's fixed text (temp file then rename; OUT is a directory when there
    are several manifests) and check the fixed manifests again with the user's rules and the first check's
    `settings` (`check_settings`: options, GPU, bench results, config.json files …)."""
    settings = settings or check_settings(bench=result.report.bench)
    if len(manifests) > 1:
        if out.exists() and not out.is_dir():
            raise ManifestError(f"--fix {out}: several manifests need a directory")
        distinct_names(manifests, out, "--fix")
        require_directory(out.absolute(), "fixed manifests")  # OUT itself is created, the directory above it not
        out.mkdir(exist_ok=True)
    files: list[FixedFile] = []
    fixed: list[Deployment] = []
    session = FixSession(topology, result.assessments)
    for path in manifests:
        mine = [a for a in result.assessments if a.deployment.source == str(path)]
        new_text, changes, problems = fix_text(read_file(path, what="a manifest"), mine, topology, session, rules,
                                               str(path), settings)
        target = out / path.name if len(manifests) > 1 else out
        # a manifest fixed in place keeps its mode and owner, a new file is no more readable than its
        # source (a token in a 0600 manifest stays private); a symlinked one is fixed where it points
        target = write_atomic(target, new_text, what="fixed manifest", like=path, follow=True)
        files.append(FixedFile(target, tuple(changes), tuple(problems)))
        fixed += loader.read_text(new_text, str(target))
    again = check(loader.identify(fixed), topology, rules, **settings)
    return FixOutcome(tuple(files), again)
