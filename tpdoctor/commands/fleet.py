"""`tpdoctor fleet DIR|FILE…`: merge per-node reports into one cluster view."""

from __future__ import annotations

import sys

import click

from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.judged import judged
from tpdoctor.fleet.load import NodeReport, load_fleet, parse_age
from tpdoctor.fleet.view import build_view
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.model.findings import Report
from tpdoctor.report.fleet_text import render_text, to_json
from tpdoctor.report.terminal import terminal


def judge_again(node: NodeReport) -> Report:
    """A node's report as the built-in node rules judge its topology (fleet/judged.py), read whole again
    (the fleet reader skips the per-port detail; `-` gets the bytes standard input gave the first read,
    files/read.py keeps them); the bench results are judged with it."""
    from tpdoctor.files.read import read_text
    from tpdoctor.model.contract import loads
    from tpdoctor.node.verdict import report_for

    full = loads(read_text(node.source, what="a tpdoctor/v1 report"), source=node.source)
    return report_for(full.topology, bench=full.bench)


@click.command("fleet")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--max-age", default=None, metavar="AGE",
              help="Reports older than this (e.g. 30m, 6h, 2d) are findings and not used for placement.")
@click.option("--json", "as_json", is_flag=True, help="Print the fleet view as JSON (tpdoctor/fleet/v1).")
def command(paths: tuple[str, ...], max_age: str | None, as_json: bool) -> int:
    """Merge per-node `tpdoctor scan --json` reports (files or folders of *.json; `-` reads one report from
    standard input) into a cluster view: nodes by status, every broken or degraded link, NIC–GPU affinity,
    free GPUs by NVLink domain."""
    age = parse_age(max_age) if max_age else None  # a bad one is a SettingError: one line, exit 3
    with gc_paused():  # thousands of reports, all alive until the end
        fleet = judged(load_fleet(paths, max_age=age), judge_again)
        if not fleet.nodes and not fleet.problems:
            click.echo("tpdoctor: error: no *.json reports found in the given paths", err=True)
            return int(ExitCode.UNKNOWN)
        view = build_view(fleet)
        if as_json:
            sys.stdout.write(to_json(view))
        else:
            render_text(view, terminal())
    if not fleet.nodes:
        return int(ExitCode.UNKNOWN)
    return int(view.status.exit_code)
