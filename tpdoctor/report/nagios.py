"""The Nagios-plugin face of a health run: one summary line with perfdata, then one line per finding.

The summary names what decided the status: the first active finding when a finding did; what could not
be checked (and the command that would answer it) when the status is UNKNOWN; on OK, the checks made.
Checks that were not made are always listed, whatever the status (`NOT CHECKED` lines), and so is what
happened to the baseline when it was not replaced.

Nagios and Icinga read everything after the first `|` of any line, long output included, as performance
data (Nagios plugin development guidelines, "Plugin Output"). So the only `|` written is the one before
the perfdata; one inside a text (a shell pipe in a command to run) is written `¦`, as Checkmk does.
"""

from __future__ import annotations

from collections.abc import Sequence

from tpdoctor.model.findings import Finding, Report, Status
from tpdoctor.model.safetext import clean
from tpdoctor.model.topology import Check, CheckState

PIPE = "¦"  # stands for `|` in every text line: Nagios would cut the line there and read the rest as perfdata


def plain(text: str) -> str:
    """One line of plugin text that Nagios will not split: no `|`, no line break."""
    return " ".join(text.replace("|", PIPE).split())


def _perf(label: str, value: float | int, unit: str = "") -> str:
    return f"{label}={value}{unit};;;0"


def active(findings: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in findings if f.active]


def gap_text(gaps: Sequence[Check], *, why: bool = True) -> str:
    """`not checked: NVLink port states, P2P status (`nvidia-smi nvlink --status`): <first reason>`."""
    first = gaps[0]
    run = f" (`{first.command}`)" if first.command else ""
    return f"not checked: {', '.join(g.what for g in gaps)}{run}" + (f": {first.reason}" if why else "")


def _made(report: Report) -> str:
    checks = [c.what for c in report.topology.coverage if c.state is CheckState.MADE]
    return f"checked: {', '.join(checks)}" if checks else ""


def _summary(report: Report, status: Status, gaps: Sequence[Check]) -> str:
    topo = report.topology
    found = active(report.findings)
    links = topo.gpu_links()
    deciding = [f for f in found if f.severity.value == status.value] or found
    if status is Status.UNKNOWN and gaps:
        if not deciding:
            return gap_text(gaps)
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        return f"{gap_text(gaps, why=False)}; {deciding[0].message}{more}"
    if found and status is not Status.OK:
        text = deciding[0].message
        return text + (f" (+{len(found) - 1} more)" if len(found) > 1 else "")
    mig = {g.label for g in topo.gpus if g.mig is True}
    nv = sum(1 for lk in links if lk.nvlinks and lk.a not in mig and lk.b not in mig)
    gpus = f"{len(topo.gpus)} GPU{'s' if len(topo.gpus) != 1 else ''}"
    text = f"{gpus}, {nv} NVLink pair{'s' if nv != 1 else ''} healthy" if nv else f"{gpus} healthy"
    if mig:
        text += f"; {', '.join(sorted(mig))} in MIG mode (no NVLink, no P2P for tensor parallelism)"
    if topo.view is not None and topo.view.scope == "subset":
        text += f"; a subset of the node ({topo.view.reason})"
    below = [f for f in found if f.severity.value != "info"]
    if below:
        text += f" ({len(below)} finding{'s' if len(below) != 1 else ''} below --fail-on)"
    return text


def render(report: Report | None, status: Status, *, duration_seconds: float, error: str | None = None,
           below_threshold: int = 0, gaps: Sequence[Check] = (), baseline: str | None = None,
           first: str | None = None) -> str:
    """`TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12) | nvlinks_down=1;;;0 ...` plus detail lines.

    `gaps`: the checks not made (node.verdict.unknown_parts); `baseline`: what happened to the baseline,
    when worth saying (not replaced); `first`: a clause said before the summary (a file not written)."""
    if report is None:
        seconds = _perf("probe_seconds", round(duration_seconds, 3), "s")
        return f"TPDOCTOR UNKNOWN - {plain(clean(error or 'probe failed', 2000))} | {seconds}\n"
    topo = report.topology
    found = active(report.findings)
    links = topo.gpu_links()
    text = _summary(report, status, gaps)
    running = topo.running
    if running is not None:
        from tpdoctor.report import running_text
    if running is not None and not any(text.startswith(g.name) for g in running.groups):  # not said yet
        text += f"; {running_text.summary(running)}"
    if baseline:
        text += f"; {baseline}"
    if first:
        text = f"{first}; {text}"
    perf = [
        _perf("gpus", len(topo.gpus)),
        _perf("nvlinks_down", sum(1 for lk in links if lk.health.value == "down")),
        _perf("nvlinks_degraded", sum(1 for lk in links if lk.health.value == "degraded")),
        _perf("nvlinks_unknown", sum(1 for lk in links if lk.health.value == "unknown")),
        _perf("findings_critical", sum(1 for f in found if f.severity.value == "critical")),
        _perf("findings_warning", sum(1 for f in found if f.severity.value == "warning")),
        _perf("findings_suppressed", sum(1 for f in report.findings if f.suppressed)),
        _perf("checks_not_made", len(gaps)),
        _perf("probe_seconds", round(duration_seconds, 3), "s"),
    ]
    if running is not None:
        perf[-1:-1] = [_perf("running_groups", len(running.groups)),
                       _perf("running_groups_not_ok", sum(1 for g in running.groups if g.status != "ok"))]
    lines: list[str] = []
    for gap in gaps:
        where = f" [{', '.join(gap.subjects[:6])}{', ...' if len(gap.subjects) > 6 else ''}]" if gap.subjects else ""
        lines.append(f"NOT CHECKED {gap.what}{where}: {gap.reason}")
        if gap.command:
            lines.append(f"  run: {gap.command}")
    for f in report.findings:
        tag = "SUPPRESSED" if f.suppressed else f.severity.value.upper()
        lines.append(f"{tag} {f.rule} {f.name} {f.subject}: {f.message.removeprefix(f'{f.subject}: ')}")
        if f.suppressed and f.suppressed_reason:
            lines.append(f"  suppressed: {f.suppressed_reason}")
        elif f.recommendation:
            lines.append(f"  fix: {f.recommendation}")
    if running is not None:
        lines += [f"RUNNING {g.status.upper()} {running_text.line(g)}" for g in running.groups]
    if status is Status.OK and (made := _made(report)):
        lines.append(made)
    # one line each: a newline or ESC in a host, GPU or model name must not add a line or drive a terminal,
    # and a `|` must not start the performance data
    head = f"TPDOCTOR {status.value.upper()} - {plain(clean(text, 4000))} | {' '.join(perf)}"
    return "\n".join([head, *(("  " if line.startswith("  ") else "") + plain(clean(line, 4000))
                              for line in lines)]) + "\n"
