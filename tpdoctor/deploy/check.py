"""`check-deployment` as one use-case function: manifests + topology (+ bench) -> assessments, findings.

No torch, no hardware: the topology is a snapshot (or read by the caller from the live machine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdoctor.advice.placement import PairTable, best_group
from tpdoctor.deploy.assess import Assessment, assess
from tpdoctor.deploy.facts import DEPLOYMENT_SCHEMA, deployment_facts
from tpdoctor.deploy.questions import Question, ask, critical_ids, verdict
from tpdoctor.engine.evaluate import Options, evaluate
from tpdoctor.engine.rule import Rule
from tpdoctor.files.read import STDIN, read_text
from tpdoctor.manifests import loader
from tpdoctor.model import contract as report_json
from tpdoctor.model import skus
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.codec import from_data
from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.errors import ManifestError, NotADeployment, ParseError, TpdError
from tpdoctor.model.findings import Finding, Report
from tpdoctor.model.topology import Topology

# Which manifest value a finding is about (for SARIF locations and messages that point at a line).
RULE_FIELD = {"TPD200": "gpus", "TPD201": "gpus", "TPD202": "tp", "TPD203": "tp", "TPD204": "tp",
              "TPD205": "tp", "TPD206": "gpus", "TPD207": "gpus", "TPD208": "env", "TPD209": "gpus",
              "TPD210": "tp", "TPD212": "gpus", "TPD213": "max_num_seqs", "TPD214": "max_model_len",
              "TPD215": "max_model_len"}


@dataclass(frozen=True)
class InputNote:
    """An input that gave no deployment: `not-a-deployment` (a Service, a build step, a ROCm job: a note) or
    `unread` (broken YAML, a Helm template of a deployment, an unreadable path: the check is UNKNOWN)."""

    path: str
    kind: str
    message: str


@dataclass(frozen=True)
class CheckResult:
    report: Report
    deployments: tuple[Deployment, ...]
    assessments: tuple[Assessment, ...]
    facts: tuple[dict[str, Any], ...]
    questions: tuple[Question, ...] = ()  # every critical question about every deployment (deploy/questions.py)
    inputs: tuple[InputNote, ...] = ()  # inputs that gave no deployment

    def deployment(self, subject: str) -> Deployment | None:
        """The deployment a finding is about (its subject: the name, or `name (file:line)` when names repeat)."""
        by_subject = {a.sid: a.deployment for a in self.assessments}
        return by_subject.get(subject) or next((d for d in self.deployments if d.name == subject), None)

    def origin_of(self, finding: Finding) -> Origin | None:
        dep = self.deployment(finding.subject)
        if dep is None:
            return None
        key = RULE_FIELD.get(finding.rule, "tp")
        if key == "env":
            key = next((k for k in dep.origins if k.startswith("env.NCCL_")), "gpus")
        for k in (key, "tp", "entry", "model"):
            o = dep.origins.get(k)
            if o is not None and o.line is not None:
                return o
        return Origin(dep.source)


def subjects(deployments: Sequence[Deployment]) -> list[str]:
    """Each deployment's subject for findings: its name, or `name (file:line)` when another deployment of the
    check has the same name (two unnamed command lines for one model), so no finding lands on the wrong one."""
    counts: dict[str, int] = {}
    for d in deployments:
        counts[d.name] = counts.get(d.name, 0) + 1
    out: list[str] = []
    seen: set[str] = set()
    for d in deployments:
        sid = d.name if counts[d.name] == 1 else f"{d.name} ({d.ident})"
        n = 2
        base = sid
        while sid in seen:
            sid, n = f"{base}#{n}", n + 1
        seen.add(sid)
        out.append(sid)
    return out


def read_manifests(paths: Sequence[str | Path]) -> list[Deployment]:
    out: list[Deployment] = []
    for p in paths:
        out += loader.read(p)
    return out




def read_inputs(paths: Sequence[str | Path]) -> tuple[list[Deployment], list[InputNote]]:
    """Each input read on its own (`-` is standard input): the deployments, and a note for each input that
    gave none, so one Service or broken file among many neither ends the run nor hides the others."""
    deployments: list[Deployment] = []
    notes: list[InputNote] = []
    for p in paths:
        name = "<stdin>" if str(p) == STDIN else str(p)
        try:
            text = read_text(p, what="a manifest")  # `-`: standard input, bounded as a file (files/read.py)
            deployments += loader.read_text(text, name)
        except NotADeployment as exc:
            notes.append(InputNote(name, "not-a-deployment", exc.message))
        except TpdError as exc:
            notes.append(InputNote(name, "unread", exc.message))
    return deployments, notes


def read_bench(path: str | Path) -> tuple[BenchResult, ...]:
    """A bench JSON: a list of BenchResult objects, or a tpdoctor/v1 report with a `bench` list."""
    p = Path(path)
    return bench_from_json(read_text(p, what="bench results (JSON)"), str(p))


def bench_from_json(text: str, source: str) -> tuple[BenchResult, ...]:
    data = report_json.parse_json(text, source)
    items = data.get("bench", []) if isinstance(data, dict) else data
    try:
        results = tuple(from_data(tuple[BenchResult, ...], items, "$.bench"))
    except (TypeError, ValueError) as exc:
        raise ParseError(f"not a list of bench results: {exc}", source=source) from None
    report_json.validate_bench(results, source)
    return results


def attach_bench(topology: Topology, bench: Sequence[BenchResult]) -> Topology:
    """Copy measured pair busbw onto the topology's links (largest correct message per pair)."""
    from dataclasses import replace

    best: dict[tuple[int, int], BenchResult] = {}
    for r in bench:
        if len(r.group) == 2 and r.correct and not r.error and r.busbw_gbps > 0:
            key = (min(r.group), max(r.group))
            if key not in best or r.bytes > best[key].bytes:
                best[key] = r
    if not best:
        return topology
    links = tuple(replace(lk, busbw_gbps=best[tuple(sorted(lk.indices))].busbw_gbps)  # type: ignore[index]
                  if lk.is_gpu_pair and tuple(sorted(lk.indices)) in best and lk.busbw_gbps is None else lk
                  for lk in topology.links)
    return replace(topology, links=links)


def check_settings(*, bench: Sequence[BenchResult] = (), options: Options | None = None, gpu: str | None = None,
                   allocation: str = "any", base_dir: Path | None = None, accept: Mapping[str, str] | None = None,
                   model_configs: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """The keyword arguments of `check` that a re-check of fixed manifests repeats (not `inputs`: the notes of
    the first read)."""
    return {"bench": bench, "options": options, "gpu": gpu, "allocation": allocation, "base_dir": base_dir,
            "accept": accept, "model_configs": model_configs}


def check(deployments: Sequence[Deployment], topology: Topology, rules: Sequence[Rule], *,
          bench: Sequence[BenchResult] = (), options: Options | None = None,
          base_dir: Path | None = None, gpu: str | None = None, allocation: str = "any",
          accept: Mapping[str, str] | None = None, inputs: Sequence[InputNote] = (),
          model_configs: Mapping[str, Path] | None = None) -> CheckResult:
    """Assess each deployment on the node and evaluate the rules. `gpu`: a SKU key or product name that
    replaces the node's GPU when the topology does not name it (`--gpu`); `allocation`: how the device plugin
    picks GPUs it is asked for by count (scheduler.ALLOCATIONS); `accept`: questions the caller accepts
    unanswered, with the reason (`--accept-unknown`); `inputs`: notes on inputs that gave no deployment (an
    unread one makes the check UNKNOWN); `model_configs`: config.json paths by model reference as written
    (`--model-config MODEL=PATH`); key "" is every deployment's."""
    from dataclasses import replace

    sku = None
    if gpu is not None:
        sku = skus.by_key(gpu)
        if sku is None:
            raise ManifestError(f"--gpu {gpu!r} is not in data/gpus.yaml",
                                hint="known: " + ", ".join(s.key for s in skus.catalogue()))
    topo = attach_bench(topology, bench)
    table = PairTable(topo)
    configs = model_configs or {}
    assessments = tuple(replace(assess(d, topo, others=deployments, bench=bench, table=table, base_dir=base_dir,
                                       gpu=sku, model_config=configs.get(d.model) or configs.get(""),
                                       allocation=allocation), subject=sid)
                        for d, sid in zip(deployments, subjects(deployments)))
    assessments = resolve_overlaps(assessments, topo, table)
    facts = deployment_facts(assessments, topo, bench)
    evaluation = evaluate(rules, DEPLOYMENT_SCHEMA, facts, options)
    findings = evaluation.findings
    subjects_facts = tuple(facts.subjects["deployment"])
    questions = ask(assessments, subjects_facts, findings, topo, accept, critical_ids(rules))
    report = Report(topology=topo, bench=tuple(bench), findings=findings,
                    status=verdict(findings, questions, sum(n.kind == "unread" for n in inputs)))
    return CheckResult(report, tuple(deployments), assessments, subjects_facts, questions, tuple(inputs))


def resolve_overlaps(assessments: tuple[Assessment, ...], topology: Topology,
                     table: PairTable) -> tuple[Assessment, ...]:
    """Deployments that share GPUs: the first (file order) keeps them, each later one moves to the best
    group nobody else holds. Every deployment of a small clash gets the same one-line advice; in a large one
    each gets its own part (so the text stays linear in the number of deployments)."""
    from dataclasses import replace

    clashing = [a for a in assessments if a.overlap and a.used]
    if not clashing:
        return assessments
    everyone = {g for a in assessments for g in (a.used or ())}
    assigned: set[int] = set()
    parts: dict[int, str] = {}
    for i, a in enumerate(assessments):
        if not a.used:
            continue
        if set(a.used) & assigned:
            g = best_group(topology, len(a.used), exclude=assigned | (everyone - set(a.used)), table=table)
            if g is None:
                parts[i] = f"{a.sid} has no free group of {len(a.used)} GPUs left"
                continue
            parts[i] = f"{a.sid} moves to {g.label}" + (f" ({g.weakest_path})" if g.weakest_path else "")
            assigned |= set(g.gpus)
        else:
            if a.overlap:
                parts[i] = f"{a.sid} keeps {'+'.join(f'GPU{i}' for i in a.used)}"
            assigned |= set(a.used)
    joint = "; ".join(parts.values()) if len(parts) <= 4 else None
    return tuple(replace(a, overlap_advice=joint or f"{parts.get(i, a.sid)} (one of {len(parts)} deployments that "
                         "share GPUs)") if a.overlap else a for i, a in enumerate(assessments))
