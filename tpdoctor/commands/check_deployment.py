"""`tpdoctor check-deployment MANIFEST…`: is this TP placement sound on this node, and if not, what instead.

Never imports torch: manifests, a topology snapshot and optional bench results are plain data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tpdoctor.commands._ruleopts import load, rule_options
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import ManifestError, ProbeError
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.model.findings import Finding, Report, Severity, Status
from tpdoctor.model.topology import Topology

if TYPE_CHECKING:
    from tpdoctor.deploy.check import CheckResult
    from tpdoctor.engine.rule import Rule


def read_topology(path: Path | None) -> tuple[Topology, tuple[BenchResult, ...]]:
    """A capture (topo -m text, collect dir, snapshot JSON) or, without --topology, this machine."""
    if path is not None:
        from tpdoctor.probes.replay import load_report

        report = load_report(path)
        return report.topology, report.bench
    from tpdoctor.probes import probe_live

    return probe_live(), ()


def exit_code(status: Status, fail_on: str) -> int:
    if status is Status.WARNING and fail_on == "critical":
        return int(ExitCode.OK)
    return int(status.exit_code)


@click.command("check-deployment")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--topology", "topology_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Node capture: topo -m text, collect directory or snapshot JSON (default: this machine).")
@click.option("--bench", "bench_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Measured all-reduce results (tpdoctor bench --json) to use instead of nominal bandwidth.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (tpdoctor/v1 + deployments).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="Output format; sarif for CI code scanning.")
@click.option("--fix", "fix_out", type=click.Path(path_type=Path), metavar="OUT",
              help="Write the corrected manifest to OUT (a directory when several manifests are given).")
@click.option("--explain", is_flag=True, help="Show the memory and cost-model arithmetic.")
@click.option("--fleet", "fleet_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              metavar="DIR|FILE", help="Node reports (files or folders of *.json, as `tpdoctor fleet` reads "
              "them): check across the cluster and place on the best free groups. Repeatable.")
@click.option("--max-age", default=None, metavar="AGE",
              help="With --fleet: reports older than this (e.g. 30m, 6h, 2d) are not used for placement.")
@click.option("--fail-on", "fail_on", type=click.Choice(["warning", "critical"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code non-zero.")
@rule_options
def command(manifests: tuple[Path, ...], topology_path: Path | None, bench_path: Path | None, as_json: bool,
            fmt: str, fix_out: Path | None, explain: bool, fleet_paths: tuple[Path, ...], max_age: str | None,
            fail_on: str, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Check TP deployments (job.yaml, Kubernetes, docker-compose, engine command lines) against a node,
    or with --fleet against every node of a cluster (multi-node jobs, cross-node TP, fleet-wide placement).

    Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (bad manifest, unreadable topology).
    """
    from tpdoctor.deploy.check import check, read_bench, read_manifests

    if fleet_paths:
        if topology_path is not None or fix_out is not None or bench_path is not None:
            raise click.UsageError("--fleet checks against the node reports: drop --topology, --bench and --fix")
        from tpdoctor.commands._fleetcheck import run_fleet

        rules, options = load(rules_dirs, ignore, severity)
        status = run_fleet(manifests, fleet_paths, max_age, rules, options, "json" if as_json else fmt)
        return exit_code(status, fail_on)
    if max_age is not None:
        raise click.UsageError("--max-age needs --fleet")
    deployments = read_manifests(manifests)
    topology, bench = read_topology(topology_path)
    if bench_path is not None:
        bench = bench + read_bench(bench_path)
    rules, options = load(rules_dirs, ignore, severity)
    result = check(deployments, topology, rules, bench=bench, options=options,
                   base_dir=manifests[0].parent if manifests else None)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        from tpdoctor.model import contract as report_json

        data = report_json.report_to_data(result.report)
        data["deployments"] = list(result.facts)
        click.echo(json.dumps(data, indent=2))
    elif fmt == "sarif":
        from tpdoctor.report import sarif

        def locate(f: Finding) -> tuple[str, int | None] | None:
            o = result.origin_of(f)
            return (o.file, o.line) if o is not None else None

        click.echo(sarif.render(result.report, rules, locate), nl=False)
    else:
        from rich.console import Console

        from tpdoctor.report.deployment_text import render

        render(result, Console(highlight=False), explain=explain)
    if fix_out is not None:
        write_fixes(manifests, result, topology, fix_out, rules)
    return exit_code(result.report.status, fail_on)


def write_fixes(manifests: tuple[Path, ...], result: CheckResult, topology: Topology, out: Path,
                rules: list[Rule]) -> None:
    """Write each manifest's fixed text (temp file then rename) and re-check it; progress on stderr."""
    from tpdoctor.deploy.check import check
    from tpdoctor.deploy.fix import FixSession, fix_text
    from tpdoctor.files.atomic import write_atomic
    from tpdoctor.manifests import loader

    if len(manifests) > 1:
        if out.exists() and not out.is_dir():
            raise ManifestError(f"--fix {out}: several manifests need a directory")
        out.mkdir(parents=True, exist_ok=True)
    fixed_all = []
    session = FixSession(topology, result.assessments)
    for path in manifests:
        mine = [a for a in result.assessments if a.deployment.source == str(path)]
        text = path.read_text(encoding="utf-8")
        new_text, changes, problems = fix_text(text, mine, topology, session)
        target = out / path.name if len(manifests) > 1 else out
        try:
            write_atomic(target, new_text)
        except OSError as exc:
            raise ProbeError(f"--fix: cannot write {target}: {exc.strerror}") from None
        for c in changes:
            click.echo(f"fix: {target}: {c}", err=True)
        for p in problems:
            click.echo(f"fix: {target}: not fixed: {p}", err=True)
        if not changes:
            click.echo(f"fix: {target}: nothing to change", err=True)
        fixed_all += loader.read_text(new_text, str(target))
    again = check(fixed_all, topology, rules, bench=result.report.bench)
    active = [f for f in again.report.findings if not f.suppressed and f.severity is not Severity.INFO]
    click.echo(f"fix: re-check of the fixed manifest(s): {again.report.status.value}"
               + (f" ({', '.join(sorted({f.rule for f in active}))})" if active else ""), err=True)
    sys.stderr.flush()


__all__ = ["command", "Report"]
