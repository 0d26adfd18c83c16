"""`tpdoctor health`: cron / systemd timer / monitoring-agent check with Nagios exit codes."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tpdoctor.commands._ruleopts import fail_on_option, load, rule_options
from tpdoctor.model.errors import TpdError
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.node.health import HealthOutcome, run_health
from tpdoctor.node.read import read_node
from tpdoctor.probes import PROBE_KINDS


@click.command("health")
@click.option("--from", "from_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Judge a capture (snapshot JSON, collect directory or topo -m text) instead of this machine.")
@click.option("--baseline", "baseline", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Compare with the last good snapshot in FILE (drift, TPD107); a clean run replaces it.")
@click.option("--prometheus", "prometheus", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write node_exporter textfile-collector metrics to FILE (atomically).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full report as JSON (tpdoctor/v1) on stdout; the summary line goes to stderr.")
@click.option("--bench", "bench", is_flag=True, help="Also run a short all-reduce benchmark (TPD106).")
@click.option("--probe", type=click.Choice(PROBE_KINDS), default="auto", show_default=True,
              help="Live probe to use (auto picks the best available).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
              help="Per-command probe timeout (default 10, or $TPDOCTOR_PROBE_TIMEOUT).")
@fail_on_option
@rule_options
def command(from_path: Path | None, baseline: Path | None, prometheus: Path | None, as_json: bool, bench: bool,
            probe: str, timeout_seconds: float | None, fail_on: Severity, rules_dirs: tuple[Path, ...],
            ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Check this node's GPU topology and NVLink health; print one Nagios status line first.

    Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (probe failed, bad input).
    """
    rules, options = load(rules_dirs, ignore, severity, scopes=("node",))
    outcome = run_health(lambda: read_node(from_path, probe, timeout_seconds, bench=bench), rules, options=options,
                         baseline_path=baseline, fail_on=fail_on)
    return int(emit(outcome, as_json=as_json, prometheus=prometheus).exit_code)


def emit(outcome: HealthOutcome, *, as_json: bool, prometheus: Path | None) -> Status:
    """Write the metrics, then print; the status to exit with. Metrics that cannot be written make the run
    UNKNOWN (exit 3) unless it is already CRITICAL: a monitor reading a stale .prom must not see success."""
    from tpdoctor.report import nagios

    metrics_error = _write_metrics(outcome, prometheus) if prometheus is not None else None
    status = outcome.status
    if metrics_error is not None and status not in (Status.CRITICAL, Status.UNKNOWN):
        status = Status.UNKNOWN
    # stdout carries one thing: the Nagios text for plugins, or with --json the report for machines.
    line = nagios.render(outcome.report, status, duration_seconds=outcome.duration_seconds, error=outcome.error)
    if metrics_error is not None and outcome.report is not None and status is Status.UNKNOWN:
        line = line.replace(" - ", f" - metrics not written ({metrics_error.message}); ", 1)
    click.echo(line, nl=False, err=as_json)
    for error in (outcome.error and TpdError(outcome.error, hint=outcome.hint), metrics_error):
        if error:
            click.echo(f"tpdoctor: error: {error.message}", err=True)
            if error.hint:
                click.echo(f"  hint: {error.hint}", err=True)
    if as_json and outcome.report is not None:
        from tpdoctor.model import contract as report_json

        report = outcome.report
        click.echo(report_json.render(Report(topology=report.topology, bench=report.bench,
                                             findings=report.findings, status=outcome.raw_status)), nl=False)
    return status


def _write_metrics(outcome: HealthOutcome, prometheus: Path) -> TpdError | None:
    """node_exporter textfile metrics, written atomically; the error when they cannot be."""
    from tpdoctor.files.atomic import write_atomic
    from tpdoctor.report import prometheus as prom

    text = prom.render(outcome.report, probe_success=outcome.report is not None,
                       probe_duration_seconds=outcome.duration_seconds, status=outcome.status,
                       timestamp_seconds=time.time())
    try:
        write_atomic(prometheus, text, what="metrics")
    except TpdError as exc:
        return exc
    return None
