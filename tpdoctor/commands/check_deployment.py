"""`tpdoctor check-deployment MANIFEST…`: is this TP placement sound on this node, and if not, what instead.

Never imports torch: manifests, a topology snapshot and optional bench results are plain data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tpdoctor.commands._ruleopts import fail_on_option, load, rule_options
from tpdoctor.model.findings import Finding, Report, Severity, apply_fail_on
from tpdoctor.model.safetext import clean
from tpdoctor.node.read import read_node

if TYPE_CHECKING:
    from tpdoctor.deploy.fix import FixOutcome


@click.command("check-deployment")
@click.argument("manifests", nargs=-1, required=False, type=click.Path(path_type=Path))
@click.option("--running", "running", is_flag=True,
              help="Judge the TP groups running on the node now (its GPU processes, docs/running.md) instead of "
                   "manifests: this machine, or a `tpdoctor collect` directory given with --topology.")
@click.option("--topology", "topology_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Node capture: topo -m text, collect directory or snapshot JSON; - reads standard input "
                   "(default: this machine).")
@click.option("--bench", "bench_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Measured all-reduce results to use instead of nominal bandwidth: tpdoctor bench --json, or "
                   "nccl-tests all_reduce_perf output; - reads standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (tpdoctor/v1 + deployments).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="Output format; sarif for CI code scanning.")
@click.option("--fix", "fix_out", type=click.Path(path_type=Path), metavar="OUT",
              help="Write the corrected manifest to OUT (a directory when several manifests are given).")
@click.option("--explain", is_flag=True, help="Show the memory and cost-model arithmetic.")
@click.option("--gpu", "gpu", default=None, metavar="SKU",
              help="The node's GPU (a key of data/gpus.yaml or a product name), for a topology that does not name "
                   "it (a raw `nvidia-smi topo -m`); as `tpdoctor predict --gpu`.")
@click.option("--model-config", "model_configs", multiple=True, metavar="[MODEL=]PATH",
              help="The model's config.json (a file or a model directory), read instead of the catalogue: PATH for "
                   "every deployment, MODEL=PATH for those whose model is written MODEL. Repeatable.")
@click.option("--fleet", "fleet_paths", multiple=True, type=click.Path(exists=True, allow_dash=True, path_type=Path),
              metavar="DIR|FILE", help="Node reports (files or folders of *.json, as `tpdoctor fleet` reads "
              "them): check across the cluster and place on the best free groups. Repeatable.")
@click.option("--max-age", default=None, metavar="AGE",
              help="With --fleet: reports older than this (e.g. 30m, 6h, 2d) are not used for placement.")
@click.option("--json-detail", "json_detail", type=click.Choice(["findings", "full"]), default="findings",
              show_default=True, help="With --fleet --json: the deployments with findings and the facts that explain "
              "them, with counts of the rest; or every deployment, placement and fact.")
@fail_on_option
@rule_options
def command(manifests: tuple[Path, ...], topology_path: Path | None, bench_path: Path | None, as_json: bool,
            fmt: str, fix_out: Path | None, explain: bool, gpu: str | None, model_configs: tuple[str, ...],
            fleet_paths: tuple[Path, ...], max_age: str | None, json_detail: str, running: bool,
            fail_on: Severity, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Check TP deployments (job.yaml, Kubernetes, docker-compose, engine command lines) against a node,
    or with --fleet against every node of a cluster (multi-node jobs, cross-node TP, fleet-wide placement).

    With --running, the deployments are the TP groups running on the node: found from the processes that hold
    its GPUs, their engines' command lines read as manifests.

    Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (bad manifest, unreadable topology, GPU processes
    that cannot be seen).
    """
    from tpdoctor.commands._benchinput import read_bench_input
    from tpdoctor.deploy.check import check, read_manifests

    if running:
        if manifests or fleet_paths or fix_out is not None or bench_path is not None or max_age is not None:
            raise click.UsageError("--running judges what runs on the node: drop the manifests, --fleet, --fix, "
                                   "--bench and --max-age")
        if fmt == "sarif":
            raise click.UsageError("--format sarif annotates manifest lines; a running group has none")
        from tpdoctor.commands._running import run_running
        from tpdoctor.running.judge import SCOPES

        rules, options = load(rules_dirs, ignore, severity, scopes=SCOPES)
        status = run_running(topology_path, rules, options, "json" if as_json else fmt, explain)
        return int(apply_fail_on(status, fail_on).exit_code)
    if not manifests:
        raise click.UsageError("give MANIFEST... to check, or --running to judge what runs on the node")
    if fleet_paths:
        if topology_path is not None or fix_out is not None or bench_path is not None or gpu is not None \
                or model_configs:
            raise click.UsageError("--fleet checks against the node reports: drop --topology, --bench, --gpu, "
                                   "--model-config and --fix")
        from tpdoctor.commands._fleetcheck import run_fleet

        rules, options = load(rules_dirs, ignore, severity)
        status = run_fleet(manifests, fleet_paths, max_age, rules, options, "json" if as_json else fmt, json_detail)
        return int(apply_fail_on(status, fail_on).exit_code)
    if max_age is not None:
        raise click.UsageError("--max-age needs --fleet")
    deployments = read_manifests(manifests)
    node = read_node(topology_path)
    topology, bench = node.topology, node.bench
    if bench_path is not None:
        bench = bench + read_bench_input(bench_path)
    rules, options = load(rules_dirs, ignore, severity, scopes=("node", "deployment"))  # no fleet without --fleet
    result = check(deployments, topology, rules, bench=bench, options=options,
                   base_dir=manifests[0].parent if manifests else None, gpu=gpu,
                   model_configs=model_config_map(model_configs))
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
        from tpdoctor.report.deployment_text import render
        from tpdoctor.report.terminal import terminal

        render(result, terminal(highlight=False), explain=explain)
    if fix_out is not None:
        from tpdoctor.deploy.fix import fix_files

        report_fixes(fix_files(manifests, result, topology, fix_out, rules, options, gpu))
    return int(apply_fail_on(result.report.status, fail_on).exit_code)


def model_config_map(values: tuple[str, ...]) -> dict[str, Path]:
    """`--model-config` values: `PATH` (key "": every deployment) or `MODEL=PATH`."""
    out: dict[str, Path] = {}
    for v in values:
        model, sep, path = v.rpartition("=")
        if sep and not model:
            raise click.BadParameter(f"{v!r}: give PATH or MODEL=PATH", param_hint="--model-config")
        key = model if sep else ""
        if key in out:
            raise click.BadParameter(f"{key or 'PATH'} given twice", param_hint="--model-config")
        out[key] = Path(path if sep else v)
    return out


def report_fixes(outcome: FixOutcome) -> None:
    """What --fix did, on stderr: per file the changes and what it could not fix, then the re-check."""
    for f in outcome.files:
        for c in f.changes:
            click.echo(clean(f"fix: {f.target}: {c}"), err=True)
        for p in f.problems:
            click.echo(clean(f"fix: {f.target}: not fixed: {p}"), err=True)
        if not f.changes:
            click.echo(clean(f"fix: {f.target}: nothing to change"), err=True)
    again = outcome.recheck.report
    active = [f for f in again.findings if f.active and f.severity is not Severity.INFO]
    click.echo(f"fix: re-check of the fixed manifest(s): {again.status.value}"
               + (f" ({', '.join(sorted({f.rule for f in active}))})" if active else ""), err=True)
    sys.stderr.flush()


__all__ = ["command", "Report"]
