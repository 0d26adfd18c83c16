"""SARIF 2.1.0 for CI: one result per active finding, located at the manifest line it is about, so code
scanning (GitHub, GitLab) annotates the pull request that changes a deployment.

Pure function: `render(report, rules, locate)` where `locate(finding)` gives (uri, line) or None.
What could not be judged is a result of `kind: "open"` (level `none`, as SARIF 2.1.0 §3.27.10 requires of any
kind but `fail`): a rule that could not judge, a question a verdict leaves unanswered (accepted ones carry an
`accepted` suppression with the CI's reason). `invocations[0]` says whether every input was read
(`executionSuccessful`), the exit code, and a notification per input that gave no deployment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tpdoctor import __version__
from tpdoctor.engine.rule import Rule
from tpdoctor.model.findings import Finding, Report, Severity
from tpdoctor.model.safetext import clean

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.CRITICAL: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
Locator = Callable[[Finding], "tuple[str, int | None] | None"]


@dataclass(frozen=True)
class Open:
    """A question left unanswered about one subject: a `kind: open` result of its own pseudo-rule."""

    rule_id: str  # e.g. tpdoctor/question/starts
    summary: str  # the question
    subject: str
    message: str
    where: tuple[str, int | None] | None = None
    accepted: str | None = None  # the reason a CI gave for accepting it unanswered


@dataclass(frozen=True)
class Invocation:
    successful: bool  # every input was read (an unreadable one makes it false; findings never do)
    exit_code: int
    notes: tuple[tuple[str, str, str], ...] = ()  # (level note|error, message, uri)


def _rule(r: Rule) -> dict[str, Any]:
    docs = r.docs
    help_text = f"{docs.get('why', '')}\n\nVerify: {docs.get('verify', '')}\n\nFix: {docs.get('remediation', '')}"
    return {
        "id": r.id,
        "name": r.name,
        "shortDescription": {"text": clean(r.summary)},
        "fullDescription": {"text": docs.get("why", r.summary)},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {"scope": r.scope, "tags": [r.scope, "tpdoctor"]},
    }


def to_data(report: Report, rules: Sequence[Rule], locate: Locator, *, opens: Sequence[Open] = (),
            invocation: Invocation | None = None) -> dict[str, Any]:
    used = {f.rule for f in report.findings}
    catalogue = [r for r in rules if r.id in used or r.scope == "deployment"]
    index = {r.id: i for i, r in enumerate(catalogue)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            **({"kind": "fail", "level": LEVEL[f.severity]} if f.judged else {"kind": "open", "level": "none"}),
            "message": {"text": clean(f.message) + (f"\n{clean(f.recommendation)}" if f.recommendation else "")},
            "properties": {"subject": f.subject, "recommendation": f.recommendation},
            # stable across runs and line moves, so code scanning tracks one alert per rule and deployment
            "partialFingerprints": {"tpdoctor/v1": f"{f.rule}:{f.subject}"},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        where = locate(f)
        if where is not None:
            uri, line = where
            loc: dict[str, Any] = {"artifactLocation": {"uri": uri}}
            if line is not None:
                loc["region"] = {"startLine": line}
            result["locations"] = [{"physicalLocation": loc}]
        if f.suppressed:
            result["suppressions"] = [{"kind": "external", "justification": f.suppressed_reason or ""}]
        results.append(result)
    descriptors = [_rule(r) for r in catalogue]
    seen: dict[str, int] = {}
    for o in opens:
        if o.rule_id not in seen:
            seen[o.rule_id] = len(descriptors)
            descriptors.append({"id": o.rule_id, "name": o.rule_id.rsplit("/", 1)[-1],
                                "shortDescription": {"text": o.summary},
                                "defaultConfiguration": {"level": "none"},
                                "properties": {"tags": ["question", "tpdoctor"]}})
        results.append(_open(o, seen[o.rule_id]))
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "tpdoctor", "version": __version__, "semanticVersion": __version__,
                            "rules": descriptors}},
        "results": results,
        "properties": {"host": report.topology.host, "status": report.status.value},
    }
    if invocation is not None:
        run["invocations"] = [{
            "executionSuccessful": invocation.successful, "exitCode": invocation.exit_code,
            "toolExecutionNotifications": [
                {"level": level, "message": {"text": clean(text)},
                 "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}]}
                for level, text, uri in invocation.notes]}]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _open(o: Open, index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": o.rule_id, "ruleIndex": index, "kind": "open", "level": "none",
        "message": {"text": clean(o.message)}, "properties": {"subject": o.subject},
        "partialFingerprints": {"tpdoctor/v1": f"{o.rule_id}:{o.subject}"},
    }
    if o.where is not None:
        loc: dict[str, Any] = {"artifactLocation": {"uri": o.where[0]}}
        if o.where[1] is not None:
            loc["region"] = {"startLine": o.where[1]}
        result["locations"] = [{"physicalLocation": loc}]
    if o.accepted is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": o.accepted}]
    return result


def render(report: Report, rules: Sequence[Rule], locate: Locator, *, opens: Sequence[Open] = (),
           invocation: Invocation | None = None) -> str:
    return json.dumps(to_data(report, rules, locate, opens=opens, invocation=invocation), indent=2) + "\n"
