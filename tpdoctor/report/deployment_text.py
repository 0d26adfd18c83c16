"""The human view of `check-deployment` (rich): per deployment, its group, memory, the options compared
(now, the best free group, TP=1 replicas) and the findings with their recommendations.

Pure function of a CheckResult; tests render into `Console(file=StringIO(), width=100)`.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tpdoctor.advice.costmodel import Prediction
from tpdoctor.deploy.assess import Assessment
from tpdoctor.deploy.check import CheckResult
from tpdoctor.deploy.questions import QUESTIONS, Question
from tpdoctor.llm.sizing import gib
from tpdoctor.model.findings import Finding, Severity, Status
from tpdoctor.model.safetext import clean, markup
from tpdoctor.report.wrap import hang

SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}
STATUS_STYLE = {Status.OK: "bold green", Status.WARNING: "bold yellow", Status.CRITICAL: "bold red",
                Status.UNKNOWN: "bold magenta"}


def _options_table(a: Assessment) -> Table | None:
    rows: list[tuple[str, str, Prediction]] = []
    if a.current is not None:
        rows.append(("now", "current", a.current))
    if a.best_prediction is not None:
        rows.append(("better group", "best_prediction", a.best_prediction))
    if a.nvlink_reference is not None and a.current is not None and a.current.path and \
            not a.current.path.startswith("NV") and a.best_prediction is None:
        rows.append(("healthy NVLink", "nvlink_reference", a.nvlink_reference))
    if a.replicas is not None and a.memory_tp1 is not None and a.memory_tp1.fits:
        rows.append(("replicas", "replicas", a.replicas))
    if not rows:
        return None
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    conc = a.objective.concurrency if a.objective is not None else None
    for col in ("option", "placement", "ms/tok", "AR ms/tok", "µs/AR", "tok/s", f"tok/s @{conc or '?'}"):
        t.add_column(col, justify="left" if col in ("option", "placement") else "right",
                     no_wrap=col != "placement")
    for name, key, p in rows:
        loaded = a.loaded.get(key)
        t.add_row(name, markup(p.label), f"{p.per_token_ms:.2f}", f"{p.allreduce_ms_per_token:.2f}",
                  f"{p.allreduce_us:.1f}" if p.tp > 1 else "–", f"{p.tokens_per_s_per_stream:.0f}",
                  f"{loaded.tokens_per_s_total:.0f}" if loaded is not None else "–")
    return t


def _no_group(a: Assessment) -> str:
    d = a.deployment
    if d.host_gpus is not None and a.gpus is None:
        return "pinned GPUs " + ",".join(str(i) for i in d.host_gpus) + " not all on this node"
    return {"scheduler": "GPUs picked by the scheduler", "all": "all GPUs of the node"}.get(
        d.placement, "GPUs chosen outside the file")


def _header(a: Assessment) -> str:
    d = a.deployment
    where = d.origin("tp").where() if "tp" in d.origins and d.origin("tp").line else d.ident
    group = a.group.label + f" ({a.group.weakest_path})" if a.group and a.group.weakest_path else (
        a.group.label if a.group else _no_group(a))
    if a.group is not None and a.used is None:  # the best group its scheduler can hand out, not a pinned one
        group = f"{_no_group(a)}, best {group}"
    tp = "TP=?" if "tp" in d.unknown else f"TP={d.tp}"
    return (f"[bold]{markup(a.sid)}[/bold]  {markup(d.engine)} · {markup(d.model or '(model not set)')} · "
            f"{markup(a.dtype)} · {tp}"
            + (f" PP={d.pp}" if d.pp > 1 else "") + (f" × {d.replicas} replicas" if d.replicas > 1 else "")
            + f" · {markup(group)}  [dim]{markup(where)}[/dim]")


def _model_line(a: Assessment) -> str | None:
    """Where the architecture and the weights' precision came from (the file read, the catalogue entry)."""
    res, p = a.resolution, a.precision
    if res is None or not res.found:
        return None
    weights = f"weights {a.dtype}: {p.source}" if p is not None else ""
    return f"  [dim]model: {markup(res.source)}" + (f" · {markup(weights)}" if weights else "") + "[/dim]"


def _memory_line(a: Assessment) -> str | None:
    m = a.memory
    if m is None:
        return None
    verdict = "starts" if m.starts else "does NOT start"
    held = f"{m.seqs_held:,} × {m.context:,}-token sequences"
    asked = f" ({m.seqs_asked:,} asked)" if m.seqs_asked else ""
    used = (f"weights {gib(m.weights_per_gpu)} of the {gib(m.budget_bytes)} mem_fraction_static gives weights and KV"
            if m.engine == "sglang" else
            f"weights {gib(m.weights_per_gpu)} + overhead {gib(m.overhead_per_gpu)} of {gib(m.budget_bytes)}")
    return (f"  memory per GPU ({m.engine}'s rule): {used}; KV pool {gib(max(m.kv_pool_bytes, 0))} = "
            f"{m.pool_tokens:,} tokens = {held}{asked} → {verdict}")


def finding(console: Console, f: Finding) -> None:
    """One finding: severity, rule and name, then its message and recommendation hung under it."""
    style = SEVERITY_STYLE[f.severity]
    mark = " (suppressed: " + (f.suppressed_reason or "") + ")" if f.suppressed else ""
    console.print(f"  [{style}]{f.severity.value.upper():8}[/{style}] {markup(f.rule)} {markup(f.name)}{markup(mark)}",
                  highlight=False)
    console.print(hang(" " * 11, clean(f.message, 2000), console.width), soft_wrap=True, highlight=False)
    if f.recommendation:
        console.print(hang(Text.assemble(" " * 11, ("→", "bold"), " "), clean(f.recommendation, 2000), console.width),
                      soft_wrap=True, highlight=False)


def render(result: CheckResult, console: Console, *, explain: bool = False) -> None:
    """Linear in deployments and findings: findings are grouped by subject once, never searched per deployment."""
    topo = result.report.topology
    gpu = topo.gpus[0].name if topo.gpus and topo.gpus[0].name else None
    console.print(f"[bold]tpdoctor check-deployment[/bold] · node {markup(topo.host)} ({len(topo.gpus)} GPUs"
                  + (f", {markup(gpu)}" if gpu else ", GPU model not named") + ")", highlight=False)
    by_subject: dict[str, list[Finding]] = {}
    for f in result.report.findings:
        by_subject.setdefault(f.subject, []).append(f)
    questions: dict[str, list[Question]] = {}
    for q in result.questions:
        if not q.answered:
            questions.setdefault(q.subject, []).append(q)
    for a in result.assessments:
        console.print()
        console.print(_header(a), highlight=False)
        source = _model_line(a)
        if source is not None:
            console.print(source, highlight=False)
        line = _memory_line(a)
        if line is not None:
            console.print(line, highlight=False)
        table = _options_table(a)
        if table is not None:
            console.print(table)
        for why in a.deployment.unknown.values():
            console.print(f"  [dim]unknown: {markup(why)}[/dim]", highlight=False)
        for note in a.notes:
            console.print(f"  [dim]note: {markup(note)}[/dim]", highlight=False)
        if explain:
            _explain(console, a)
        for f in by_subject.pop(a.sid, []):
            finding(console, f)
        for q in questions.get(a.sid, []):
            _question(console, q)
    for n in result.inputs:
        label = "[dim]note[/dim]" if n.kind == "not-a-deployment" else "[magenta]NOT READ[/magenta]"
        console.print(f"{label}: {markup(n.message)}", highlight=False)
    status = result.report.status
    counts = {s: sum(1 for f in result.report.findings if f.severity is s and not f.suppressed) for s in Severity}
    open_q = sum(q.open for q in result.questions)
    accepted = sum(q.accepted is not None for q in result.questions)
    unread = sum(n.kind == "unread" for n in result.inputs)
    extra = (f", {open_q} question(s) not answered" if open_q else "") + (
        f", {accepted} accepted unanswered" if accepted else "") + (f", {unread} input(s) not read" if unread else "")
    console.print()
    console.print(f"[{STATUS_STYLE[status]}]{status.value.upper()}[/{STATUS_STYLE[status]}]: "
                  f"{len(result.assessments)} deployment(s), {counts[Severity.CRITICAL]} critical, "
                  f"{counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info{extra}", highlight=False)


def _question(console: Console, q: Question) -> None:
    """A critical question left unanswered: what it is, why, and what would answer it (or who accepted it)."""
    head = "ACCEPTED" if q.accepted is not None else "[magenta]NOT ANSWERED[/magenta]"
    console.print(f"  {head} {q.name}: {markup(QUESTIONS[q.name])}", highlight=False)
    console.print(f"           {markup(q.reason or '')}", highlight=False)
    if q.accepted is not None:
        console.print(f"           accepted unanswered (--accept-unknown): {markup(q.accepted)}", highlight=False)
    elif q.answer_with:
        console.print(f"           [bold]→[/bold] answer it with {markup(q.answer_with)}", highlight=False)


def _explain(console: Console, a: Assessment) -> None:
    console.print("  [bold]arithmetic[/bold]")
    engine = a.memory.engine if a.memory else a.deployment.engine
    for title, lines in ((f"memory at this TP ({engine}'s own rule)", a.memory.explain if a.memory else ()),
                         ("memory at TP=1", a.memory_tp1.explain if a.memory_tp1 and a.deployment.tp > 1 else ()),
                         ("cost now", a.current.explain if a.current else ()),
                         ("cost on the better group", a.best_prediction.explain if a.best_prediction else ()),
                         ("cost as replicas", a.replicas.explain if a.replicas else ())):
        if lines:
            console.print(f"    {title}:", highlight=False)
            for line in lines:
                console.print(f"      {markup(line)}", highlight=False)
