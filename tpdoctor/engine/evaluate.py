"""The rules engine: compile each rule's CEL condition once, evaluate it per subject, yield Findings.

Speed: converting a Python dict into CEL values dominates the cost of a call, so each rule sees only the
facts it names (found statically in its expression), and subjects whose projected facts are equal share
one evaluation: a healthy 72-GPU NVSwitch node has 2,556 identical links, not 2,556 questions.

Unknown facts (could not be read) are *absent* from the CEL object, so a rule either asks `has(link.p2p)`
and decides for itself, or reading the fact fails and the engine reports that the rule "could not judge"
that subject: an info finding naming the unknown facts and why — never a guess (with null, `p2p != "OK"`
would quietly be true). `null` is reserved for "not applicable" (no baseline, no fabric, not benchmarked).

Cost: each rule has a time budget per evaluation (`RULE_BUDGET_SECONDS` of CEL time in total over its
subjects). A site rule whose condition is too costly stops there: every subject it did not reach gets a
"could not judge" finding that says so, instead of `health` taking minutes (see `engine/cel.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.engine.cel import CelEvalError, Program
from tpdoctor.engine.condition import Refs, analyse, check_condition
from tpdoctor.engine.rule import Rule
from tpdoctor.engine.schema import ID_FIELD, UNKNOWN_FIELD, ScopeFacts, ScopeSchema
from tpdoctor.model.errors import TpdError
from tpdoctor.model.findings import SEVERITY_ORDER, Finding, Severity

RULE_BUDGET_SECONDS = 2.0  # CEL time one rule may spend per evaluation; the built-in rules need milliseconds


@dataclass(frozen=True)
class Options:
    ignore: Mapping[str, str] = field(default_factory=dict)  # rule id -> reason
    severity: Mapping[str, Severity] = field(default_factory=dict)  # rule id -> overriding severity


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    rules: int  # rules evaluated
    evaluations: int  # CEL calls actually made (after sharing)
    subjects: int  # rule x subject pairs judged
    not_judged: int
    duration_seconds: float


@dataclass
class _Compiled:
    rule: Rule
    program: Program
    refs: Refs


class Engine:
    """Compiled rules of one scope (those of `rules` whose scope is the schema's); `evaluate` may be called
    many times."""

    def __init__(self, rules: Iterable[Rule], schema: ScopeSchema, options: Options | None = None, *,
                 budget_seconds: float = RULE_BUDGET_SECONDS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.schema = schema
        self.options = options or Options()
        self.budget_seconds = budget_seconds
        self.clock = clock
        self.compiled = [
            _Compiled(r, check_condition(r.when, schema, r.each), analyse(r.when, schema, r.each))
            for r in rules if r.scope == schema.scope and r.state == "active"
        ]

    def evaluate(self, facts: ScopeFacts) -> Evaluation:
        if facts.scope != self.schema.scope:
            raise TpdError(f"facts of scope {facts.scope!r} given to the {self.schema.scope!r} rules")
        start = time.perf_counter()
        findings: list[Finding] = []
        calls = judged = not_judged = 0
        shared = {k: facts.subjects[k][0] for k in self.schema.shared if facts.subjects.get(k)}
        for c in self.compiled:
            rule = c.rule
            subjects = facts.subjects.get(rule.each, ())
            shared_ctx = {v: _project(obj, c.refs.fields.get(v, frozenset()), obj.get(UNKNOWN_FIELD))
                          for v, obj in shared.items() if v != rule.each and v in c.refs.fields}
            wanted = c.refs.fields.get(rule.each, frozenset())
            keys = None if wanted is None else sorted(wanted)
            cache: dict[Any, Any] = {}
            spent = 0.0
            for subject in subjects:
                judged += 1
                unknown = subject.get(UNKNOWN_FIELD)
                key = _freeze(subject, keys, unknown)
                if key in cache:
                    outcome = cache[key]
                elif spent > self.budget_seconds:
                    outcome = _STOPPED
                else:
                    calls += 1
                    began = self.clock()
                    outcome = _run(c.program, {rule.each: _project(subject, wanted, unknown), **shared_ctx})
                    spent += self.clock() - began
                    cache[key] = outcome
                if outcome is False:
                    continue
                ctx = {rule.each: subject, **shared}
                if outcome is True:
                    findings.append(self._finding(rule, subject, ctx))
                else:
                    not_judged += 1
                    findings.append(_not_judged(rule, subject, wanted, outcome, self.budget_seconds))
        findings.sort(key=_order)
        return Evaluation(tuple(findings), len(self.compiled), calls, judged, not_judged,
                          time.perf_counter() - start)

    def _finding(self, rule: Rule, subject: Mapping[str, Any], ctx: Mapping[str, Any]) -> Finding:
        reason = self.options.ignore.get(rule.id)
        evidence = {k: v for k, v in subject.items() if k != UNKNOWN_FIELD and v is not None}
        return Finding(rule=rule.id, name=rule.name, severity=self.options.severity.get(rule.id, rule.severity),
                       subject=str(subject.get(ID_FIELD, "?")), message=rule.message.render(ctx),
                       evidence=evidence, recommendation=rule.recommendation.render(ctx),
                       suppressed=reason is not None, suppressed_reason=reason)


def _run(program: Program, ctx: dict[str, Any]) -> bool | str:
    """True/False, or the error text when the condition could not be evaluated."""
    try:
        result = program.execute(ctx)
    except CelEvalError as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    if isinstance(result, bool):
        return result
    return f"condition gave {type(result).__name__} {result!r}, not a boolean"


def _project(obj: Mapping[str, Any], names: frozenset[str] | None,
             unknown: Mapping[str, str] | None) -> Mapping[str, Any]:
    """The facts a rule reads, with unknown ones left out (so reading them fails, and `has()` is false)."""
    keys = obj.keys() if names is None else names
    if unknown:
        return {k: obj[k] for k in keys if k in obj and k not in unknown}
    return {k: obj[k] for k in keys if k in obj}


_ABSENT = ("absent",)


def _freeze(obj: Mapping[str, Any], keys: Sequence[str] | None, unknown: Mapping[str, str] | None) -> Any:
    """A hashable key of the facts a rule reads: equal keys, equal outcome."""
    if keys is None:
        keys = sorted(obj)
    if unknown:
        return tuple(_ABSENT if k in unknown else _hashable(obj.get(k)) for k in keys)
    return tuple([_hashable(obj.get(k)) for k in keys])


def _hashable(value: Any) -> Any:
    cls = value.__class__
    if cls is str or cls is int or value is None:
        return value
    if cls is bool:
        return ("b", value)  # True == 1 in Python; not in CEL
    if cls is float:
        return ("f", value)
    if cls is list:
        return ("l", tuple(_hashable(v) for v in value))
    if cls is dict:
        return ("d", tuple(sorted((k, _hashable(v)) for k, v in value.items())))
    return (cls.__name__, value)


_STOPPED: Any = object()  # the rule had used its time budget before it reached this subject


def _not_judged(rule: Rule, subject: Mapping[str, Any], wanted: frozenset[str] | None,
                error: Any, budget_seconds: float = RULE_BUDGET_SECONDS) -> Finding:
    unknown = subject.get(UNKNOWN_FIELD) or {}
    relevant = {k: v for k, v in unknown.items() if wanted is None or k in wanted}
    sid = str(subject.get(ID_FIELD, "?"))
    if error is _STOPPED:
        message = (f"{sid}: could not judge {rule.name}: its condition used the rule's {budget_seconds:g} s "
                   "evaluation budget before reaching this subject (too costly; compute heavy logic as a fact)")
        evidence: dict[str, Any] = {"judged": False, "error": "evaluation budget exceeded"}
    elif relevant:
        what = ", ".join(f"{k} ({v})" for k, v in sorted(relevant.items()))
        message = f"{sid}: could not judge {rule.name}: unknown {what}"
        evidence = {"judged": False, "unknown": relevant}
    else:
        message = f"{sid}: could not judge {rule.name}: rule error: {error}"
        evidence = {"judged": False, "error": str(error)}
    return Finding(rule=rule.id, name=rule.name, severity=Severity.INFO, subject=sid, message=message,
                   evidence=evidence, recommendation="", judged=False)


def _order(f: Finding) -> tuple[int, int, str, str]:
    """Active before suppressed, worst first, then by rule id and subject."""
    return (1 if f.suppressed else 0, -SEVERITY_ORDER[f.severity], f.rule, f.subject)


def evaluate(rules: Sequence[Rule], schema: ScopeSchema, facts: ScopeFacts,
             options: Options | None = None) -> Evaluation:
    """One-shot convenience: compile the scope's rules and evaluate them once."""
    return Engine(rules, schema, options).evaluate(facts)
