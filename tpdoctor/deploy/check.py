"""`check-deployment` as one use-case function: manifests + topology (+ bench) -> assessments, findings.

No torch, no hardware: the topology is a snapshot (or read by the caller from the live machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdoctor.advice.placement import PairTable, best_group
from tpdoctor.deploy.assess import Assessment, assess
from tpdoctor.deploy.facts import DEPLOYMENT_SCHEMA, deployment_facts
from tpdoctor.engine.evaluate import Options, evaluate
from tpdoctor.engine.rule import Rule
from tpdoctor.files.read import read_text
from tpdoctor.manifests import loader
from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.codec import from_data
from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Report, status_of
from tpdoctor.model.topology import Topology

# Which manifest value a finding is about (for SARIF locations and messages that point at a line).
RULE_FIELD = {"TPD200": "gpus", "TPD201": "gpus", "TPD202": "tp", "TPD203": "tp", "TPD204": "tp",
              "TPD205": "tp", "TPD206": "gpus", "TPD207": "gpus", "TPD208": "env", "TPD209": "gpus",
              "TPD210": "tp", "TPD212": "gpus"}


@dataclass(frozen=True)
class CheckResult:
    report: Report
    deployments: tuple[Deployment, ...]
    assessments: tuple[Assessment, ...]
    facts: tuple[dict[str, Any], ...]

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments if d.name == name), None)

    def origin_of(self, finding: Finding) -> Origin | None:
        dep = self.deployment(finding.subject)
        if dep is None:
            return None
        key = RULE_FIELD.get(finding.rule, "tp")
        if key == "env":
            key = next((k for k in dep.origins if k.startswith("env.NCCL_")), "gpus")
        return dep.origins.get(key) or dep.origins.get("tp") or dep.origins.get("model") or Origin(dep.source)


def read_manifests(paths: Sequence[str | Path]) -> list[Deployment]:
    out: list[Deployment] = []
    for p in paths:
        out += loader.read(p)
    return out


def read_bench(path: str | Path) -> tuple[BenchResult, ...]:
    """A bench JSON: a list of BenchResult objects, or a tpdoctor/v1 report with a `bench` list."""
    p = Path(path)
    data = report_json.parse_json(read_text(p, what="bench results (JSON)"), str(p))
    items = data.get("bench", []) if isinstance(data, dict) else data
    try:
        results = tuple(from_data(tuple[BenchResult, ...], items, "$.bench"))
    except (TypeError, ValueError) as exc:
        raise ParseError(f"not a list of bench results: {exc}", source=str(p)) from None
    report_json.validate_bench(results, str(p))
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


def check(deployments: Sequence[Deployment], topology: Topology, rules: Sequence[Rule], *,
          bench: Sequence[BenchResult] = (), options: Options | None = None,
          base_dir: Path | None = None) -> CheckResult:
    topo = attach_bench(topology, bench)
    table = PairTable(topo)
    assessments = tuple(assess(d, topo, others=deployments, bench=bench, table=table, base_dir=base_dir)
                        for d in deployments)
    assessments = resolve_overlaps(assessments, topo, table)
    facts = deployment_facts(assessments, topo, bench)
    evaluation = evaluate(rules, DEPLOYMENT_SCHEMA, facts, options)
    findings = evaluation.findings
    report = Report(topology=topo, bench=tuple(bench), findings=findings, status=status_of(findings))
    return CheckResult(report, tuple(deployments), assessments, tuple(facts.subjects["deployment"]))


def resolve_overlaps(assessments: tuple[Assessment, ...], topology: Topology,
                     table: PairTable) -> tuple[Assessment, ...]:
    """Deployments that share GPUs: the first (file order) keeps them, each later one moves to the best
    group nobody else holds. Every deployment of a clash gets the same one-line advice."""
    from dataclasses import replace

    clashing = [a for a in assessments if a.overlap and a.gpus]
    if not clashing:
        return assessments
    everyone = {g for a in assessments for g in (a.gpus or ())}
    assigned: set[int] = set()
    parts: list[str] = []
    for a in assessments:
        if not a.gpus:
            continue
        if set(a.gpus) & assigned:
            g = best_group(topology, len(a.gpus), exclude=assigned | (everyone - set(a.gpus)), table=table)
            if g is None:
                parts.append(f"{a.name} has no free group of {len(a.gpus)} GPUs left")
                continue
            parts.append(f"{a.name} moves to {g.label}" + (f" ({g.weakest_path})" if g.weakest_path else ""))
            assigned |= set(g.gpus)
        else:
            if a.overlap:
                parts.append(f"{a.name} keeps {'+'.join(f'GPU{i}' for i in a.gpus)}")
            assigned |= set(a.gpus)
    advice = "; ".join(parts)
    return tuple(replace(a, overlap_advice=advice) if a.overlap else a for a in assessments)
