"""The questions a check-deployment verdict answers, and which of them it could not.

OK promises that every critical question about every deployment was answered (as `health`'s OK promises
that every check was made): does it start, is its TP valid, is its group on healthy fast links, does it
cross the network, does it share GPUs with another deployment. A question the files and the node cannot
answer (a model tpdoctor does not know, GPUs chosen outside the file on a node whose groups differ, the
other nodes of a multi-node job) is not answered: the check is UNKNOWN (exit 3) unless a critical finding
makes it CRITICAL, and each such question names what would answer it (`--model-config`, `--gpu`, pinning,
`--fleet`). A CI states what it accepts with `--accept-unknown QUESTION[:reason]`; an accepted question is
reported as accepted, with the reason, never dropped silently.

Per question, when it is answered, and what answers it when not:
- starts: the memory fit and the context were judged (model, TP and GPU memory known); `--model-config`,
  `--gpu`, the TP.
- tp_valid: the model's heads and the TP are known; `--model-config`, the TP.
- links: its group is known (pinned, or all of the node), or the groups its scheduler may hand out were
  counted, or every group of that size on the node is as good; pinning, `--fleet` for the other nodes.
- network: single-node, or the cross-node rules could judge; `--fleet`.
- sharing: no other deployment of the check can run on its node, or the GPUs of each are known, or one
  device plugin places them all; pinning.
- rules: every other critical rule could judge it; the facts the rule names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tpdoctor.advice import scheduler
from tpdoctor.deploy.assess import Assessment, shares_node
from tpdoctor.model.findings import Finding, Severity, Status, status_of
from tpdoctor.model.topology import CheckState, Topology

QUESTIONS = {
    "starts": "does it start (weights, KV cache and context fit)",
    "tp_valid": "is its TP valid for the model",
    "links": "is its group on healthy fast links",
    "network": "does it cross the network, and can it",
    "sharing": "does it share GPUs with another deployment",
    "rules": "could every other critical rule judge it",
}
# the critical rules each question's answer rests on (a rule that could not judge leaves it open)
RULES = {"TPD205": "starts", "TPD210": "starts", "TPD214": "starts", "TPD204": "tp_valid", "TPD200": "links",
         "TPD216": "links", "TPD233": "links", "TPD203": "network", "TPD230": "network", "TPD232": "network",
         "TPD207": "sharing"}
PIN = "pin its GPUs (CUDA_VISIBLE_DEVICES on the host, compose device_ids, docker --gpus device=…)"


@dataclass(frozen=True)
class Question:
    subject: str  # the deployment's id
    name: str  # a key of QUESTIONS
    answered: bool
    reason: str | None = None  # why not answered
    answer_with: str | None = None  # what would answer it
    accepted: str | None = None  # --accept-unknown's reason, when the CI accepts it unanswered

    @property
    def open(self) -> bool:
        """Unanswered and not accepted: makes the verdict UNKNOWN."""
        return not self.answered and self.accepted is None

    def to_data(self) -> dict[str, Any]:
        return {"deployment": self.subject, "question": self.name, "answered": self.answered,
                "reason": self.reason, "answer_with": self.answer_with, "accepted": self.accepted}


def parse_accept(values: Sequence[str]) -> dict[str, str]:
    """`--accept-unknown QUESTION[:reason]` values -> {question: reason}."""
    out: dict[str, str] = {}
    for v in values:
        name, _, why = v.partition(":")
        name = name.strip()
        if name not in QUESTIONS:
            raise ValueError(f"{v!r}: {name!r} is not a question (one of {', '.join(QUESTIONS)})")
        out[name] = why.strip() or "accepted without a reason (--accept-unknown)"
    return out


def verdict(findings: Sequence[Finding], questions: Sequence[Question], unread: int = 0) -> Status:
    """CRITICAL when a critical finding is active; else UNKNOWN when a question is open or a file could not
    be read; else the worst active finding (WARNING or OK)."""
    status = status_of(tuple(findings))
    if status is Status.CRITICAL:
        return status
    if unread or any(q.open for q in questions):
        return Status.UNKNOWN
    return status


def ask(assessments: Sequence[Assessment], facts: Sequence[Mapping[str, Any]], findings: Sequence[Finding],
        topology: Topology, accept: Mapping[str, str] | None = None,
        critical_rules: frozenset[str] = frozenset(), fleet: bool = False) -> tuple[Question, ...]:
    """Every question about every deployment, answered or not (see the module docstring)."""
    accept = accept or {}
    unjudged: dict[str, list[Finding]] = {}
    for f in findings:
        if not f.judged and f.rule in critical_rules:
            unjudged.setdefault(f.subject, []).append(f)
    links_made = not any(c.name == "links" and c.state is CheckState.NOT_MADE for c in topology.coverage)
    out: list[Question] = []
    for a, fx in zip(assessments, facts):
        open_rules = unjudged.get(a.sid, [])
        answers = {"starts": _starts(a, fx), "tp_valid": _tp_valid(a, fx),
                   "links": _links(a, fx, topology, links_made, fleet),
                   "network": (None, None), "sharing": _sharing(a, assessments)}
        for f in open_rules:  # a rule that could not judge leaves its question open, unless settled above
            q = RULES.get(f.rule, "rules")
            if answers.get(q, (None, None))[0] is None:
                answers[q] = (_why(f), _answer_for(a, _why(f)) if q != "rules" else "the facts it names")
        for name in QUESTIONS:
            why, how = answers.get(name, (None, None))
            done = not why  # None: answered by its rules; "": settled here (no rule can reopen it)
            out.append(Question(a.sid, name, done, why or None, how, None if done else accept.get(name)))
    return tuple(out)


def ask_fleet(assessments: Sequence[Assessment], facts: Sequence[Mapping[str, Any]], findings: Sequence[Finding],
              critical_rules: frozenset[str], accept: Mapping[str, str] | None = None) -> tuple[Question, ...]:
    """`--fleet`: the questions left open, one entry each (answered ones are not listed: a fleet holds tens of
    thousands of deployments). Links, network and sharing are the fleet placement's (every GPU is pinned or
    placed by tpdoctor on nodes it has reports of); whether it starts, whether its TP is valid and any critical
    rule that could not judge stay questions. `facts[i]["id"]` names the deployment (an assessment can be
    shared by equal deployments)."""
    accept = accept or {}
    unjudged: dict[str, list[Finding]] = {}
    for f in findings:
        if not f.judged and f.rule in critical_rules:
            unjudged.setdefault(f.subject, []).append(f)
    out: list[Question] = []
    for a, fx in zip(assessments, facts):
        sid = str(fx.get("id") or a.sid)
        answers = {"starts": _starts(a, fx), "tp_valid": _tp_valid(a, fx)}
        for f in unjudged.get(sid, []):
            q = RULES.get(f.rule, "rules")
            if q in ("starts", "tp_valid", "rules") and answers.get(q, (None, None))[0] is None:
                answers[q] = (_why(f), _answer_for(a, _why(f)) if q != "rules" else "the facts it names")
        out += [Question(sid, name, False, why, how, accept.get(name))
                for name, (why, how) in answers.items() if why]
    return tuple(out)


def _why(f: Finding) -> str:
    text = f.message.split(": could not judge ", 1)[-1]
    return f"{f.rule} could not judge: {text.split(': ', 1)[-1]}"


def _answer_for(a: Assessment, reason: str) -> str:
    """What would answer a question left open for `reason`."""
    d = a.deployment
    low = reason.lower()
    if "--fleet" in low:
        return "--fleet DIR (the node reports of the nodes it spans)"
    if any(k in d.unknown for k in ("tp", "pp")) and any(w in low for w in ("tp", "tensor", "engine", "config")):
        if d.unresolved:
            return f"the value of {_names(d.unresolved)}"
        if "--config" in d.unknown.get("tp", ""):
            return "TP, PP and the model written in the manifest (they are in a config file it does not hold)"
        if "engine" in d.unknown.get("tp", ""):
            return "the prebuilt engine's config.json (its mapping gives TP and PP)"
        return "TP written in the file"
    if "model" in d.unknown or (not d.model and d.unresolved):
        return f"the model name ({_names(d.unresolved)})" if d.unresolved else "the model name in the file"
    if a.spec is None and ("model" in low or "architecture" in low):
        return "--model-config PATH (the model's config.json)"
    if a.sku is None or not a.gpu_memory_mib or "--gpu" in low or "gpu memory" in low:
        return "--gpu SKU (the node's GPU)"
    if "pinned" in low or "scheduler" in low:
        return PIN
    if "nic" in low or "node" in low:
        return "--fleet DIR (the node reports of the nodes it spans)"
    return "the facts named in the reason"


def _names(names: Sequence[str]) -> str:
    """`$MODEL set in the file or its environment`, `the script's argument $1`."""
    shown = [n if n.startswith("$") else f"${n}" for n in names[:3]]
    if all(n[1:].isdigit() for n in shown):
        return f"the script's argument{'s' if len(shown) > 1 else ''} {', '.join(shown)}"
    return f"{', '.join(shown)} set in the file or the environment it runs in"


def _unknown_reason(a: Assessment, fx: Mapping[str, Any], key: str) -> str | None:
    if fx.get(key) is not None:
        return None
    return (fx.get("unknown") or {}).get(key) or a.deployment.unknown.get("tp") or f"{key} not determined"


def _starts(a: Assessment, fx: Mapping[str, Any]) -> tuple[str | None, str | None]:
    why = _unknown_reason(a, fx, "fits")
    return (why, _answer_for(a, why)) if why else (None, None)


def _tp_valid(a: Assessment, fx: Mapping[str, Any]) -> tuple[str | None, str | None]:
    why = _unknown_reason(a, fx, "tp_valid")
    return (why, _answer_for(a, why)) if why else (None, None)


def _links(a: Assessment, fx: Mapping[str, Any], topology: Topology, links_made: bool,
           fleet: bool) -> tuple[str | None, str | None]:
    d = a.deployment
    if "tp" in d.unknown or "pp" in d.unknown:
        why = f"its group's size is not known: {d.unknown.get('tp') or d.unknown.get('pp')}"
        return why, _answer_for(a, "tp " + why)
    if d.gpus_needed <= 1:
        return "", None  # one GPU per node: no group on a node (what crosses the network is `network`'s)
    if not links_made:
        return ("the topology does not show every GPU pair's link (a partial capture)",
                "a complete capture of the node (`tpdoctor collect`, or `nvidia-smi topo -m` with every row)")
    if d.nodes > 1 and not fleet:
        return (f"it spans {d.nodes} nodes and only {topology.host}'s GPUs are in --topology",
                "--fleet DIR (the node reports of the nodes it spans)")
    if a.used is not None:
        return None, None
    if a.sets is not None and a.sets.total is None:  # too many groups to count: whether it gets a bad one is open
        return (f"a scheduler picks its GPUs from more groups of {a.sets.size} than tpdoctor counts, and "
                f"{len(a.sets.bad_pairs)} GPU pairs are weaker than the best group's", fx.get("placement_fix") or PIN)
    if a.sets is not None:
        return "", None  # the groups its scheduler may hand out were counted (TPD211, and TPD200 on the best)
    if d.host_gpus is not None and a.gpus is None:
        return "its pinned GPUs are not on this node", "pin GPUs this node has"
    n = d.gpus_needed
    if n > len(topology.gpus):
        return None, None  # it cannot fit on the node: TPD210/TPD203 say so
    any_group = scheduler.sets(topology, n)
    if any_group is not None and any_group.bad == 0:
        return "", None  # every group of that size on this node is as good as the best: whichever it gets
    where = ("its GPUs are chosen outside the file" if d.placement == "unknown"
             else f"its GPUs are not known ({d.placement})")
    detail = any_group.describe("a launcher") if any_group is not None else "the node has fewer free GPUs"
    return f"{where}, and the groups differ: {detail}", PIN


def _sharing(a: Assessment, assessments: Sequence[Assessment]) -> tuple[str | None, str | None]:
    d = a.deployment
    others = [o for o in assessments if o is not a and shares_node(d, o.deployment)]
    if not others:
        return None, None
    placed = [o for o in others if o.used is None and not _scheduled_apart(a, o)]
    if a.used is None and not all(_scheduled_apart(a, o) for o in others):
        return (f"its GPUs are not known ({d.placement}) and {len(others)} other deployment(s) may run on its node",
                PIN)
    if placed:
        names = ", ".join(o.sid for o in placed[:3])
        return f"the GPUs of {names} are not known", "pin their GPUs"
    return None, None


def _scheduled_apart(a: Assessment, o: Assessment) -> bool:
    """One scheduler hands both their GPUs (a device plugin never gives two pods the same GPU)."""
    da, do = a.deployment, o.deployment
    return da.placement == do.placement == "scheduler" and da.runtime == do.runtime != ""


def critical_ids(rules: Sequence[Any]) -> frozenset[str]:
    """The ids of the critical deployment rules (those whose not judging leaves a question open)."""
    return frozenset(r.id for r in rules if getattr(r, "severity", None) is Severity.CRITICAL
                     and getattr(r, "scope", "") == "deployment")
