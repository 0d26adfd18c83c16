"""Views of a cluster-wide check (`check-deployment --fleet`): rich text for people, JSON for tools.

The text view stays readable at 10,000 deployments: counts by placement and by rule, then the worst
deployments (critical first) with their findings, capped; "could not judge" notes are counted, not listed.
JSON (`tpdoctor/fleet-check/v1`, one line; schemas/fleet-check-v1.schema.json) holds, by default, the
deployments with findings (placement, facts, findings) and counts of the rest; `--json-detail full` every
placement, every deployment's facts and every
finding; a finding's evidence is the deployment's facts, so it is not repeated per finding.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rich.console import Console

from tpdoctor import __version__
from tpdoctor.fleet.cluster import ClusterResult
from tpdoctor.model.codec import to_data
from tpdoctor.model.findings import SEVERITY_ORDER, Finding
from tpdoctor.model.safetext import clean, markup
from tpdoctor.report.deployment_text import SEVERITY_STYLE, finding
from tpdoctor.report.wrap import hang

FLEET_CHECK_SCHEMA = "tpdoctor/fleet-check/v1"


DETAILS = ("findings", "full")


def _deployment_name(f: Finding) -> str:
    return f.subject  # a deployment's findings have its name as subject; fleet findings (TPD3xx) a node's


def to_data_dict(result: ClusterResult, detail: str = "findings") -> dict[str, Any]:
    """The fleet-check JSON. `detail="findings"` (the default) keeps what a cluster of 100k GPUs needs read:
    the deployments with a judged finding, each with its placement and facts (what explains the finding),
    and counts of everything else in `summary`; `detail="full"` lists every deployment, placement, fact
    and could-not-judge note."""
    full = detail == "full"
    findings = [f for f in result.findings if full or f.judged]
    noted = {_deployment_name(f) for f in findings}
    names = {p.deployment.name for p in result.placements}
    keep = (lambda name: True) if full else (lambda name: name in noted)
    placements = [{"deployment": p.deployment.name, "how": p.how,
                   "stages": [{"host": h, "gpus": list(g) if g is not None else None} for h, g in p.stages],
                   "copies": [[{"host": h, "gpus": list(g) if g is not None else None} for h, g in c]
                              for c in p.copies],
                   "note": p.note} for p in result.placements if keep(p.deployment.name)]
    by_rule = Counter(f.rule for f in result.findings if f.active)
    summary = {"deployments": len(result.placements),
               "placements": dict(sorted(Counter(p.how for p in result.placements).items())),
               "findings": dict(sorted(by_rule.items())),
               "not_judged": sum(1 for f in result.findings if not f.judged),
               "questions_open": sum(1 for q in result.questions if q.accepted is None),
               "deployments_listed": len(placements),
               "fleet_findings": sum(1 for f in result.findings if _deployment_name(f) not in names)}
    return {"schema": FLEET_CHECK_SCHEMA, "tool_version": __version__, "detail": "full" if full else "findings",
            "nodes": result.nodes, "stale_nodes": result.stale_nodes, "status": result.status.value,
            "summary": summary, "problems": to_data(result.problems), "placements": placements,
            "questions": [{"subject": q.subject, "question": q.name, "reason": q.reason, "answer_with": q.answer_with,
                           "accepted": q.accepted} for q in result.questions],
            "deployments": [f for f in result.facts if keep(str(f.get("name")))],
            "findings": [{"rule": f.rule, "name": f.name, "severity": f.severity.value, "subject": f.subject,
                          "message": f.message, "recommendation": f.recommendation, "suppressed": f.suppressed,
                          "suppressed_reason": f.suppressed_reason, "judged": f.judged} for f in findings]}


def to_json(result: ClusterResult, detail: str = "findings") -> str:
    return json.dumps(to_data_dict(result, detail), separators=(",", ":"), default=str) + "\n"


def _questions(result: ClusterResult, console: Console, shown: int = 10) -> None:
    """The critical questions left open (UNKNOWN unless a finding is critical), the first few in full."""
    open_ = [q for q in result.questions if q.accepted is None]
    accepted = len(result.questions) - len(open_)
    if not result.questions:
        return
    deps = len({q.subject for q in open_})
    console.print(f"  [magenta]NOT ANSWERED[/magenta] {len(open_)} question(s) of {deps} deployment(s)"
                  + (f"; {accepted} accepted (--accept-unknown)" if accepted else ""), highlight=False)
    for q in open_[:shown]:
        line = f"{q.subject}: {q.name}: {q.reason or ''}"
        line += f" → answer it with {q.answer_with}" if q.answer_with else ""
        console.print(hang(" " * 11, clean(line, 2000), console.width), soft_wrap=True, highlight=False)
    if len(open_) > shown:
        console.print(f"           … and {len(open_) - shown} more (see --json)", highlight=False)


def render(result: ClusterResult, console: Console, *, max_deployments: int = 30) -> None:
    console.print(f"[bold]tpdoctor check-deployment[/bold] · fleet of {result.nodes} nodes"
                  f" ({result.stale_nodes} stale) · {len(result.placements)} deployment(s)", highlight=False)
    how = Counter(p.how for p in result.placements)
    words = {"pinned": "pinned to node and GPUs", "node": "on a named node, GPUs chosen",
             "placed": "placed by tpdoctor", "unplaced": "with no room in the fleet"}
    console.print("  " + ", ".join(f"{how[k]} {words[k]}" for k in words if how[k]), highlight=False)
    active = [f for f in result.findings if f.active]
    by_rule = Counter((f.severity, f.rule, f.name) for f in active)
    for (sev, rule, name), n in sorted(by_rule.items(), key=lambda kv: (-SEVERITY_ORDER[kv[0][0]], kv[0][1])):
        console.print(f"  [{SEVERITY_STYLE[sev]}]{sev.value.upper():8}[/] {markup(rule)} {markup(name)} × {n}",
                      highlight=False)
    unjudged = sum(1 for f in result.findings if not f.judged)
    if unjudged:
        console.print(f"  [dim]{unjudged} could-not-judge note(s) (unpinned GPUs, unknown models): see --json[/dim]",
                      highlight=False)
    for p in result.problems:
        console.print(f"  [yellow]fleet:[/yellow] {markup(p.message, 2000)}", highlight=False)
    _questions(result, console)

    facts_of = {f["name"]: f for f in result.facts}
    per_dep: dict[str, list[Finding]] = {}
    for f in active:
        if f.subject in facts_of:  # fleet findings (TPD3xx) are listed above, with the merge problems
            per_dep.setdefault(f.subject, []).append(f)
    worst = sorted(per_dep.items(), key=lambda kv: (-max(SEVERITY_ORDER[f.severity] for f in kv[1]), kv[0]))
    for name, fs in worst[:max_deployments]:
        facts = facts_of.get(name, {})
        console.print()
        console.print(f"[bold]{markup(name)}[/bold]  {markup(facts.get('model', '?'))} · TP={markup(facts.get('tp'))} "
                      f"PP={markup(facts.get('pp'))} · {markup(facts.get('placement') or facts.get('host'))}",
                      highlight=False)
        for f in sorted(fs, key=lambda x: (-SEVERITY_ORDER[x.severity], x.rule)):
            finding(console, f)  # active findings: no suppression mark
    if len(worst) > max_deployments:
        console.print(f"\n… and {len(worst) - max_deployments} more deployment(s) with findings (see --json)",
                      highlight=False)
    console.print(f"\n{result.status.value.upper()}", highlight=False)
