"""`check-deployment --running`: judge only the TP groups running on the node (docs/running.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tpdoctor.engine.evaluate import Options
from tpdoctor.engine.rule import Rule
from tpdoctor.model.errors import InputError
from tpdoctor.model.findings import Report, Status, status_of
from tpdoctor.model.running_check import running_check
from tpdoctor.model.topology import CheckState
from tpdoctor.node.read import read_node


def run_running(topology_path: Path | None, rules: list[Rule], options: Options, fmt: str, explain: bool) -> Status:
    """Read the node (or a capture with `running.json`), judge its running groups, print; the status."""
    from tpdoctor.running.judge import judge

    node = read_node(topology_path)
    topology = node.topology
    if topology.running is None:
        where = f"{topology_path} has" if topology_path is not None else "this read has"
        raise InputError(f"{where} no compute-process table: nothing says what runs on the GPUs",
                         hint="capture with `tpdoctor collect DIR` on the node (it writes running.json), or run "
                              "without --topology on the node itself (and without TPDOCTOR_RUNNING=0)")
    judged = judge(topology, rules, options=options, bench=node.bench)
    check = running_check(topology.running)
    status = status_of(tuple(f for f in judged.findings if f.judged))
    if status is not Status.CRITICAL and (check.state is CheckState.NOT_MADE or
                                          any(not f.judged and not f.suppressed for f in judged.findings)):
        status = Status.UNKNOWN
    report = Report(topology=judged.topology, bench=node.bench, findings=judged.findings, status=status)
    if fmt == "json":
        from tpdoctor.model import contract as report_json

        data = report_json.report_to_data(report)
        data["deployments"] = list(judged.result.facts) if judged.result is not None else []
        click.echo(json.dumps(data, indent=2))
        return status
    _text(report, judged, check.reason if check.state is CheckState.NOT_MADE else None, check.command, explain)
    return status


def _text(report: Report, judged: object, gap: str | None, command: str, explain: bool) -> None:
    from tpdoctor.model.safetext import markup
    from tpdoctor.report import running_text
    from tpdoctor.report.deployment_text import STATUS_STYLE, render
    from tpdoctor.report.terminal import terminal
    from tpdoctor.running.judge import Judged

    assert isinstance(judged, Judged)
    console = terminal(highlight=False)
    running = report.topology.running
    assert running is not None
    console.print(f"[bold]tpdoctor check-deployment --running[/bold] · node {markup(report.topology.host)}")
    console.print(running_text.table(running))
    for line in running_text.detail_lines(running):
        console.print(markup(line))
    if gap is not None:
        console.print(f"[bold magenta]NOT CHECKED[/bold magenta] running TP groups: {markup(gap)}")
        console.print(f"  run: {markup(command)}")
    if judged.result is not None:
        render(judged.result, console, explain=explain)
    for f in judged.findings:
        if f.rule.startswith("TPD24") and f.active:
            console.print(f"  {f.severity.value.upper():8} {f.rule} {f.name}: {markup(f.message)}")
            console.print(f"           → {markup(f.recommendation)}")
    status = report.status
    console.print(f"[{STATUS_STYLE[status]}]{status.value.upper()}[/{STATUS_STYLE[status]}]: "
                  f"{len(running.groups)} running group(s)")
