"""SARIF 2.1.0 for CI: one result per active finding, located at the manifest line it is about, so code
scanning (GitHub, GitLab) annotates the pull request that changes a deployment.

Pure function: `render(report, rules, locate)` where `locate(finding)` gives (uri, line) or None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tpdoctor import __version__
from tpdoctor.engine.rule import Rule
from tpdoctor.model.findings import Finding, Report, Severity
from tpdoctor.model.safetext import clean

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.CRITICAL: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
Locator = Callable[[Finding], "tuple[str, int | None] | None"]


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


def to_data(report: Report, rules: Sequence[Rule], locate: Locator) -> dict[str, Any]:
    used = {f.rule for f in report.findings}
    catalogue = [r for r in rules if r.id in used or r.scope == "deployment"]
    index = {r.id: i for i, r in enumerate(catalogue)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": LEVEL[f.severity],
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
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tpdoctor", "version": __version__, "semanticVersion": __version__,
                                "rules": [_rule(r) for r in catalogue]}},
            "results": results,
            "properties": {"host": report.topology.host, "status": report.status.value},
        }],
    }


def render(report: Report, rules: Sequence[Rule], locate: Locator) -> str:
    return json.dumps(to_data(report, rules, locate), indent=2) + "\n"
