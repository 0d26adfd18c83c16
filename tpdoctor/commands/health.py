"""`tpdoctor health`: cron / systemd timer / monitoring-agent check with Nagios exit codes."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tpdoctor.commands._bounded import Bounded
from tpdoctor.commands._ruleopts import fail_on_option, load, rule_options
from tpdoctor.model.errors import TpdError
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.model.running import Running
from tpdoctor.model.safetext import clean
from tpdoctor.model.settings import PROBE_TIMEOUT
from tpdoctor.node.health import HealthOutcome, run_health
from tpdoctor.node.read import read_node
from tpdoctor.probes import PROBE_KINDS
from tpdoctor.probes.limits import TIMEOUT_HELP


@click.command("health")
@click.option("--from", "from_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Judge a capture (snapshot JSON, collect directory or topo -m text; - reads standard input) "
                   "instead of this machine.")
@click.option("--baseline", "baseline", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="The node's own expectation: its GPU pairs should have what FILE (the last clean "
                   "snapshot) shows, and drift from it is TPD107; a clean run replaces it.")
@click.option("--accept-baseline", "accept_baseline", is_flag=True,
              help="With --baseline: record this run as the baseline even though it is not clean (its links "
                   "then expect what they show now), e.g. a node that lives with a missing bridge. Refused "
                   "when evidence is missing.")
@click.option("--prometheus", "prometheus", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write node_exporter textfile-collector metrics to FILE (atomically).")
@click.option("--nfd", "nfd", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write node labels for node-feature-discovery to FILE (atomically), e.g. "
                   "/etc/kubernetes/node-feature-discovery/features.d/tpdoctor.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full report as JSON (tpdoctor/v1) on stdout; the summary line goes to stderr.")
@click.option("--bench", "bench", is_flag=True,
              help="Also run a short all-reduce benchmark on this machine (TPD106, TPD109); refused with "
                   "--from a capture of another host.")
@click.option("--probe", type=click.Choice(PROBE_KINDS), default="auto", show_default=True,
              help="Live probe to use (auto picks the best available).")
@click.option("--timeout", "timeout_seconds", type=Bounded(PROBE_TIMEOUT), default=None, metavar="SECONDS",
              help=TIMEOUT_HELP)
@fail_on_option
@rule_options
def command(from_path: Path | None, baseline: Path | None, accept_baseline: bool, prometheus: Path | None,
            nfd: Path | None, as_json: bool, bench: bool, probe: str, timeout_seconds: float | None,
            fail_on: Severity, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...],
            severity: tuple[str, ...]) -> int:
    """Check this node's GPU topology and NVLink health, and the TP groups running on it; print one Nagios
    status line first.

    Exit codes: 0 ok (every check made and passed), 1 warning, 2 critical, 3 unknown (probe failed, bad
    input, or evidence missing: the line names what was not checked and the command that answers it).
    """
    if accept_baseline and baseline is None:
        raise click.UsageError("--accept-baseline goes with --baseline FILE")
    from tpdoctor.running.health import GROUP_SCOPES, split

    rules, options = load(rules_dirs, ignore, severity, scopes=("node",), also=GROUP_SCOPES)
    held: dict[str, Running | None] = {}
    node = split(lambda: read_node(from_path, probe, timeout_seconds, bench=bench), held)
    outcome = run_health(node, rules, options=options, baseline_path=baseline, fail_on=fail_on,
                         accept=accept_baseline)
    if held.get("running") is not None:  # the deployment and running-group rules only when groups may be there
        from tpdoctor.running.health import with_groups

        group_rules, _ = load(rules_dirs, ignore, severity, scopes=GROUP_SCOPES, also=("node",))
        outcome = with_groups(outcome, held["running"], group_rules, options=options, fail_on=fail_on)
    return int(emit(outcome, as_json=as_json, prometheus=prometheus, nfd=nfd).exit_code)


def emit(outcome: HealthOutcome, *, as_json: bool, prometheus: Path | None, nfd: Path | None = None) -> Status:
    """Write the files (metrics, NFD labels), then print; the status to exit with. A file that cannot be
    written makes the run UNKNOWN (exit 3) unless it is already CRITICAL: a monitor reading a stale .prom,
    or NFD keeping old labels, must not come with a success."""
    from tpdoctor.node.verdict import unknown_parts
    from tpdoctor.report import nagios

    failed = _write_files(outcome, prometheus, nfd)
    status = outcome.status
    if failed and status not in (Status.CRITICAL, Status.UNKNOWN):
        status = Status.UNKNOWN
    # stdout carries one thing: the Nagios text for plugins, or with --json the report for machines.
    note = outcome.baseline
    said = note.reason if note is not None and note.state in ("not_written", "refused", "accepted") else None
    gaps = unknown_parts(outcome.report) if outcome.report is not None else ()
    # the file not written leads the line, cleaned and made plain (no `|`) with the rest of it
    first = f"{failed[0][0]} not written ({failed[0][1].message})" if failed and status is Status.UNKNOWN else None
    line = nagios.render(outcome.report, status, duration_seconds=outcome.duration_seconds,
                         error=outcome.error, gaps=gaps, baseline=said, first=first)
    click.echo(line, nl=False, err=as_json)
    for error in (outcome.error and TpdError(outcome.error, hint=outcome.hint), *(e for _, e in failed)):
        if error:
            click.echo(f"tpdoctor: error: {clean(error.message)}", err=True)
            if error.hint:
                click.echo(f"  hint: {clean(error.hint)}", err=True)
    if as_json and outcome.report is not None:
        import json

        from tpdoctor.model import contract as report_json

        report = outcome.report
        data = report_json.report_to_data(Report(topology=report.topology, bench=report.bench,
                                                 findings=report.findings, status=outcome.raw_status))
        if note is not None:  # an addition to tpdoctor/v1: what this run did with the baseline
            data["baseline"] = {"path": note.path, "state": note.state, "reason": note.reason}
        click.echo(json.dumps(data, indent=2) + "\n", nl=False)
    return status


def _write_files(outcome: HealthOutcome, prometheus: Path | None, nfd: Path | None) -> list[tuple[str, TpdError]]:
    """node_exporter textfile metrics and NFD labels, each written atomically; the errors of those that
    could not be (an NFD dot-file renamed into place: NFD ignores dot-files, so it never reads half a file)."""
    from tpdoctor.files.atomic import write_atomic

    failed: list[tuple[str, TpdError]] = []
    if prometheus is not None:
        from tpdoctor.report import prometheus as prom

        text = prom.render(outcome.report, probe_success=outcome.report is not None,
                           probe_duration_seconds=outcome.duration_seconds, status=outcome.status,
                           timestamp_seconds=time.time())
        try:
            write_atomic(prometheus, text, what="metrics")
        except TpdError as exc:
            failed.append(("metrics", exc))
    if nfd is not None:
        from tpdoctor.report import nfd as nfd_labels

        try:
            write_atomic(nfd, nfd_labels.render(outcome.report, outcome.raw_status, now=time.time()),
                         what="NFD labels")
        except TpdError as exc:
            failed.append(("NFD labels", exc))
    return failed
