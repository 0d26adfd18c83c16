"""`tpdoctor check-deployment MANIFEST…`: is this TP placement sound on this node, and if not, what instead.

Never imports torch: manifests, a topology snapshot and optional bench results are plain data.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tpdoctor.commands._ruleopts import fail_on_option, load, rule_options
from tpdoctor.model.errors import NotADeployment
from tpdoctor.model.findings import Report, Severity, apply_fail_on
from tpdoctor.model.safetext import clean
from tpdoctor.node.read import read_node

if TYPE_CHECKING:
    from tpdoctor.deploy.check import CheckResult, InputNote
    from tpdoctor.deploy.fix import FixOutcome
    from tpdoctor.engine.rule import Rule
    from tpdoctor.model.topology import Topology


@click.command("check-deployment")
@click.argument("manifests", nargs=-1, required=False, type=click.Path(path_type=Path))
@click.option("--running", "running", is_flag=True,
              help="Judge the TP groups running on the node now (its GPU processes, docs/running.md) instead of "
                   "manifests: this machine, or a `tpdoctor collect` directory given with --topology.")
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
@click.option("--accept-unknown", "accept_unknown", multiple=True, metavar="QUESTION[:REASON]",
              help="Accept one question left unanswered (starts, tp_valid, links, network, sharing, rules) instead "
                   "of UNKNOWN; reported as accepted with the reason. Repeatable.")
@click.option("--allocation", type=click.Choice(["any", "best-effort"]), default="any", show_default=True,
              help="How the device plugin picks GPUs asked for by count: any free ones, or the NVIDIA plugin's "
                   "topology-aware best-effort policy.")
@click.option("--output", "output", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write the report (--format) to FILE, atomically; the text report still goes to stdout when "
                   "the format is json or sarif.")
@click.option("--allow-no-deployment", is_flag=True,
              help="Exit 0 when no input holds a deployment (each is a note), e.g. in a pre-commit hook that is "
                   "handed every changed YAML file; an input that cannot be read is still UNKNOWN.")
@fail_on_option
@rule_options
def command(manifests: tuple[Path, ...], topology_path: Path | None, bench_path: Path | None, as_json: bool,
            fmt: str, fix_out: Path | None, explain: bool, gpu: str | None, model_configs: tuple[str, ...],
            fleet_paths: tuple[Path, ...], max_age: str | None, json_detail: str, running: bool,
            accept_unknown: tuple[str, ...], allocation: str, output: Path | None,
            allow_no_deployment: bool, fail_on: Severity, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...],
            severity: tuple[str, ...]) -> int:
    """Check TP deployments (job.yaml, Kubernetes, docker-compose, engine command lines; `-` reads standard
    input) against a node, or with --fleet against every node of a cluster.

    With --running, the deployments are the TP groups running on the node: found from the processes that hold
    its GPUs, their engines' command lines read as manifests.

    OK means every critical question (does it start, is TP valid, is its group on healthy fast links, does it
    cross the network, does it share GPUs) was answered; one that was not makes it UNKNOWN, naming what would
    answer it. Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown (a question not answered, an input not read,
    GPU processes that cannot be seen).
    """
    from tpdoctor.commands._benchinput import read_bench_input
    from tpdoctor.deploy.check import check, check_settings, read_inputs
    from tpdoctor.deploy.questions import parse_accept

    try:
        accept = parse_accept(accept_unknown)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--accept-unknown") from None

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
        if topology_path is not None or fix_out is not None or bench_path is not None or gpu is not None:
            raise click.UsageError("--fleet checks against the node reports: drop --topology, --bench, --gpu "
                                   "and --fix")
        from tpdoctor.commands._fleetcheck import run_fleet

        rules, options = load(rules_dirs, ignore, severity)
        status = run_fleet(manifests, fleet_paths, max_age, rules, options, "json" if as_json else fmt, json_detail,
                           accept, model_config_map(model_configs))
        return int(apply_fail_on(status, fail_on).exit_code)
    if max_age is not None:
        raise click.UsageError("--max-age needs --fleet")
    if fix_out is not None and any(str(m) == "-" for m in manifests):
        raise click.UsageError("--fix writes a corrected copy of a file: it cannot fix standard input (-)")
    deployments, inputs = read_inputs(manifests)
    node = read_node(topology_path)
    topology, bench = node.topology, node.bench
    if bench_path is not None:
        bench = bench + read_bench_input(bench_path)
    # deployment rules only (node rules are the node check's; --ignore may still name them), no fleet without --fleet
    rules, options = load(rules_dirs, ignore, severity, scopes=("deployment",), also=("node",))
    fmt = "json" if as_json else fmt
    if not deployments:
        return _nothing(inputs, topology, rules, fmt, output, allow_no_deployment)
    settings = check_settings(bench=bench, options=options, gpu=gpu, allocation=allocation, accept=accept,
                              base_dir=_base_dir(manifests), model_configs=model_config_map(model_configs))
    result = check(deployments, topology, rules, inputs=inputs, **settings)
    code = int(apply_fail_on(result.report.status, fail_on).exit_code)
    _emit(result, rules, fmt, explain, code, output)
    if fix_out is not None:
        from tpdoctor.deploy.fix import fix_files

        report_fixes(fix_files(manifests, result, topology, fix_out, rules, settings))
    return code


def _emit(result: CheckResult, rules: Sequence[Rule], fmt: str, explain: bool, code: int,
          output: Path | None) -> None:
    """The report on stdout, or into `output` (atomically) with the text view on stdout."""
    from tpdoctor.commands._deployout import render

    if output is not None:
        from tpdoctor.files.atomic import write_atomic

        write_atomic(output, render(result, rules, fmt, explain=explain, exit_code=code), what=f"{fmt} report")
        if fmt != "text":
            render(result, rules, "text", explain=explain, to_stdout=True)
    else:
        click.echo(render(result, rules, fmt, explain=explain, exit_code=code, to_stdout=True), nl=False)


def _base_dir(manifests: tuple[Path, ...]) -> Path | None:
    """Where a model's config.json is looked up: next to the first file (the working directory for stdin)."""
    first = next((m for m in manifests if str(m) != "-"), None)
    return first.parent if first is not None else Path.cwd()


def _nothing(inputs: Sequence[InputNote], topology: Topology, rules: list[Rule], fmt: str,
             output: Path | None, allowed: bool) -> int:
    """No input gave a deployment: one line on stderr, exit 3 (0 with --allow-no-deployment when every input
    was read); a SARIF report is still written (CI reads it)."""
    first = inputs[0].message if inputs else "no manifest given"
    more = f" (and {len(inputs) - 1} more input(s) without one)" if len(inputs) > 1 else ""
    ok = allowed and all(n.kind == "not-a-deployment" for n in inputs)
    if fmt == "sarif":
        from tpdoctor.commands._deployout import sarif_text
        from tpdoctor.deploy.check import CheckResult
        from tpdoctor.model.findings import Status

        empty = CheckResult(Report(topology=topology, status=Status.OK if ok else Status.UNKNOWN), (), (), (), (),
                            tuple(inputs))
        text = sarif_text(empty, rules, 0 if ok else 3)
        if output is not None:
            from tpdoctor.files.atomic import write_atomic

            write_atomic(output, text, what="sarif report")
        else:
            click.echo(text, nl=False)
    if ok:
        for n in inputs:
            click.echo(clean(f"note: {n.message}"), err=True)
        return 0
    raise NotADeployment(f"no deployment to check: {first}{more}")


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
