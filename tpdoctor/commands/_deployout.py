"""`check-deployment`'s output as one string (text, JSON or SARIF), for stdout or `--output FILE`."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from tpdoctor.deploy.check import CheckResult
from tpdoctor.deploy.questions import QUESTIONS
from tpdoctor.engine.rule import Rule
from tpdoctor.model.findings import Finding


def render(result: CheckResult, rules: Sequence[Rule], fmt: str, *, explain: bool = False, exit_code: int = 0,
           width: int | None = None, to_stdout: bool = False) -> str:
    """The report as text; the text view with `to_stdout` is printed on the terminal console instead ("")."""
    if fmt == "json":
        from tpdoctor.model import contract as report_json

        data = report_json.report_to_data(result.report)
        data["deployments"] = list(result.facts)
        data["questions"] = [q.to_data() for q in result.questions]
        data["inputs"] = [{"path": n.path, "kind": n.kind, "message": n.message} for n in result.inputs]
        return json.dumps(data, indent=2) + "\n"
    if fmt == "sarif":
        return sarif_text(result, rules, exit_code)
    from tpdoctor.report.deployment_text import render as render_text
    from tpdoctor.report.terminal import terminal

    if to_stdout:  # the console's own width and colours, as every view
        render_text(result, terminal(highlight=False), explain=explain)
        return ""
    buf = io.StringIO()
    render_text(result, terminal(file=buf, highlight=False, width=width or 100, force_terminal=False),
                explain=explain)
    return buf.getvalue()


def sarif_text(result: CheckResult, rules: Sequence[Rule], exit_code: int) -> str:
    from tpdoctor.report import sarif

    def locate(f: Finding) -> tuple[str, int | None] | None:
        o = result.origin_of(f)
        return (o.file, o.line) if o is not None else None

    opens = []
    by_sid = {a.sid: a.deployment for a in result.assessments}
    for q in result.questions:
        if q.answered:
            continue
        dep = by_sid.get(q.subject)
        o = next((dep.origins[k] for k in ("tp", "entry", "model") if dep and k in dep.origins), None)
        where = (o.file, o.line) if o is not None else ((dep.source, None) if dep else None)
        text = (f"{q.subject}: not answered: {QUESTIONS[q.name]}: {q.reason}"
                + (f". Answer it with {q.answer_with}" if q.answer_with else "")
                + (f". Accepted unanswered: {q.accepted}" if q.accepted else ""))
        opens.append(sarif.Open(f"tpdoctor/question/{q.name}", QUESTIONS[q.name], q.subject, text, where,
                                q.accepted))
    notes = tuple(("note" if n.kind == "not-a-deployment" else "error", n.message, n.path) for n in result.inputs)
    invocation = sarif.Invocation(not any(n.kind == "unread" for n in result.inputs) and bool(result.deployments),
                                  exit_code, notes)
    return sarif.render(result.report, rules, locate, opens=opens, invocation=invocation)
