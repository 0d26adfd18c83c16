"""`tpdoctor health`: cron / systemd timer / monitoring-agent check with Nagios exit codes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from tpdoctor.bench.session import short_pairs_bench
from tpdoctor.commands._ruleopts import load, rule_options
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import ProbeError, TpdError
from tpdoctor.model.findings import Report, Severity
from tpdoctor.model.topology import Topology
from tpdoctor.node.health import HealthOutcome, Loader, run_health
from tpdoctor.probes import PROBE_KINDS


def topology_loader(from_path: Path | None, bench: bool, probe: str = "auto",
                    timeout_seconds: float | None = None) -> Loader:
    """Where the snapshot comes from: a capture (raw topo -m text, collect directory, snapshot JSON) or
    the live machine. Errors surface when the loader runs, so health can report them as UNKNOWN."""

    def load_() -> tuple[Topology, tuple[BenchResult, ...]]:
        if from_path is not None:
            from tpdoctor.probes.replay import load_report

            try:
                report = load_report(from_path)
            except TpdError as exc:
                raise ProbeError(exc.message) from None
            topology, results = report.topology, tuple(report.bench)
        else:
            from tpdoctor.probes import probe_live

            topology, results = probe_live(probe, timeout_seconds=timeout_seconds), ()
        if bench:
            topology, measured = short_pairs_bench(topology)
            results = results + measured
        return topology, results

    return load_


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
@click.option("--fail-on", "fail_on", type=click.Choice(["warning", "critical"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code non-zero.")
@rule_options
def command(from_path: Path | None, baseline: Path | None, prometheus: Path | None, as_json: bool, bench: bool,
            probe: str, timeout_seconds: float | None, fail_on: str, rules_dirs: tuple[Path, ...],
            ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Check this node's GPU topology and NVLink health; print one Nagios status line first.

    Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (probe failed, bad input).
    """
    rules, options = load(rules_dirs, ignore, severity, scopes=("node",))
    outcome = run_health(topology_loader(from_path, bench, probe, timeout_seconds), rules, options=options,
                         baseline_path=baseline, fail_on=Severity(fail_on))
    emit(outcome, as_json=as_json, prometheus=prometheus)
    return int(outcome.status.exit_code)


def emit(outcome: HealthOutcome, *, as_json: bool, prometheus: Path | None) -> None:
    from tpdoctor.report import nagios

    # stdout carries one thing: the Nagios text for plugins, or with --json the report for machines.
    click.echo(nagios.render(outcome.report, outcome.status, duration_seconds=outcome.duration_seconds,
                             error=outcome.error), nl=False, err=as_json)
    if outcome.error:
        click.echo(f"tpdoctor: error: {outcome.error}", err=True)
    if as_json and outcome.report is not None:
        from tpdoctor.model import contract as report_json

        report = outcome.report
        click.echo(report_json.render(Report(topology=report.topology, bench=report.bench,
                                             findings=report.findings, status=outcome.raw_status)), nl=False)
    if prometheus is not None:
        from tpdoctor.files.atomic import write_atomic
        from tpdoctor.report import prometheus as prom

        text = prom.render(outcome.report, probe_success=outcome.report is not None,
                           probe_duration_seconds=outcome.duration_seconds, status=outcome.status,
                           timestamp_seconds=time.time())
        try:
            write_atomic(prometheus, text)
        except OSError as exc:
            print(f"tpdoctor: error: cannot write {prometheus}: {exc.strerror}", file=sys.stderr)
