"""`tpdoctor health`: cron / systemd timer / monitoring-agent check with Nagios exit codes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from tpdoctor.bench.result import BenchResult
from tpdoctor.commands._ruleopts import load, rule_options
from tpdoctor.errors import ProbeError, TpdError
from tpdoctor.findings import Report, Severity
from tpdoctor.health import HealthOutcome, Loader, run_health
from tpdoctor.topology import Topology


def topology_loader(from_path: Path | None, bench: bool) -> Loader:
    """Where the snapshot comes from: a captured PATH (snapshot JSON, collect dir, topo -m text) or the
    live machine. Probe errors surface when the loader runs, so health can report them as UNKNOWN."""

    def load_() -> tuple[Topology, tuple[BenchResult, ...]]:
        topology, results = _read(from_path)
        if bench:
            results = results + _run_bench(topology)
        return topology, results

    return load_


def _read(from_path: Path | None) -> tuple[Topology, tuple[BenchResult, ...]]:
    if from_path is not None and not from_path.exists():
        raise ProbeError(f"{from_path}: no such file or directory")
    if from_path is not None and from_path.suffix == ".json" and from_path.is_file():
        from tpdoctor.report import json as report_json

        try:
            text = from_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProbeError(f"{from_path}: {exc.strerror}") from None
        try:
            report = report_json.loads(text, source=str(from_path))
        except TpdError as exc:
            raise ProbeError(exc.message) from None
        return report.topology, report.bench
    try:
        from tpdoctor.probes import replay  # type: ignore[attr-defined]  # the scan branch provides it
    except ImportError:
        replay = None
    if from_path is not None:
        if replay is None:
            raise ProbeError(f"{from_path}: only snapshot JSON can be read in this build")
        try:
            return replay.load(from_path), ()
        except TpdError as exc:
            raise ProbeError(exc.message) from None
    try:
        from tpdoctor.probes import auto  # type: ignore[attr-defined]
    except ImportError:
        raise ProbeError("live probing is not available in this build", hint="use --from PATH") from None
    return auto.probe(), ()


def _run_bench(topology: Topology) -> tuple[BenchResult, ...]:
    try:
        from tpdoctor.bench import runner  # type: ignore[attr-defined]
    except ImportError:
        raise ProbeError("the benchmark is not available in this build") from None
    return tuple(runner.bench_for_health(topology))


@click.command("health")
@click.option("--from", "from_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Judge a capture (snapshot JSON, collect directory or topo -m text) instead of this machine.")
@click.option("--baseline", "baseline", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Compare with the last good snapshot in FILE (drift, TPD107); a clean run replaces it.")
@click.option("--prometheus", "prometheus", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write node_exporter textfile-collector metrics to FILE (atomically).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full report as JSON (tpdoctor/v1) after the summary line.")
@click.option("--bench", "bench", is_flag=True, help="Also run a short all-reduce benchmark (TPD106).")
@click.option("--fail-on", "fail_on", type=click.Choice(["warning", "critical"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code non-zero.")
@rule_options
def command(from_path: Path | None, baseline: Path | None, prometheus: Path | None, as_json: bool, bench: bool,
            fail_on: str, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Check this node's GPU topology and NVLink health; print one Nagios status line first.

    Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (probe failed, bad input).
    """
    rules, options = load(rules_dirs, ignore, severity)
    outcome = run_health(topology_loader(from_path, bench), rules, options=options, baseline_path=baseline,
                         fail_on=Severity(fail_on))
    emit(outcome, as_json=as_json, prometheus=prometheus)
    return int(outcome.status.exit_code)


def emit(outcome: HealthOutcome, *, as_json: bool, prometheus: Path | None) -> None:
    from tpdoctor.report import nagios

    click.echo(nagios.render(outcome.report, outcome.status, duration_seconds=outcome.duration_seconds,
                             error=outcome.error), nl=False)
    if outcome.error:
        click.echo(f"tpdoctor: error: {outcome.error}", err=True)
    if as_json and outcome.report is not None:
        from tpdoctor.report import json as report_json

        report = outcome.report
        click.echo(report_json.render(Report(topology=report.topology, bench=report.bench,
                                             findings=report.findings, status=outcome.raw_status)), nl=False)
    if prometheus is not None:
        from tpdoctor.atomic import write_atomic
        from tpdoctor.report import prometheus as prom

        text = prom.render(outcome.report, probe_success=outcome.report is not None,
                           probe_duration_seconds=outcome.duration_seconds, status=outcome.status,
                           timestamp_seconds=time.time())
        try:
            write_atomic(prometheus, text)
        except OSError as exc:
            print(f"tpdoctor: error: cannot write {prometheus}: {exc.strerror}", file=sys.stderr)
