"""`tpdoctor fleet DIR|FILE…`: merge per-node reports into one cluster view."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.load import load_fleet, parse_age
from tpdoctor.fleet.view import build_view
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.report.fleet_text import render_text, to_json


@click.command("fleet")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--max-age", default=None, metavar="AGE",
              help="Reports older than this (e.g. 30m, 6h, 2d) are findings and not used for placement.")
@click.option("--json", "as_json", is_flag=True, help="Print the fleet view as JSON (tpdoctor/fleet/v1).")
def command(paths: tuple[str, ...], max_age: str | None, as_json: bool) -> int:
    """Merge per-node `tpdoctor scan --json` reports (files or folders of *.json; `-` reads one report from
    standard input) into a cluster view: nodes by status, every broken or degraded link, NIC–GPU affinity,
    free GPUs by NVLink domain."""
    try:
        age = parse_age(max_age) if max_age else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-age") from None
    with gc_paused():  # thousands of reports, all alive until the end
        fleet = load_fleet(paths, max_age=age)
        if not fleet.nodes and not fleet.problems:
            click.echo("tpdoctor: error: no *.json reports found in the given paths", err=True)
            return int(ExitCode.UNKNOWN)
        view = build_view(fleet)
        if as_json:
            sys.stdout.write(to_json(view))
        else:
            render_text(view, Console())
    if not fleet.nodes:
        return int(ExitCode.UNKNOWN)
    return int(view.status.exit_code)
