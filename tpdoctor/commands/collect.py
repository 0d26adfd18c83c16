"""`tpdoctor collect DIR`: save this node's raw nvidia-smi outputs and a snapshot, e.g. for a bug report."""

from __future__ import annotations

import click

from tpdoctor.commands._bounded import Bounded
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.model.safetext import clean
from tpdoctor.model.settings import PROBE_TIMEOUT
from tpdoctor.probes.limits import TIMEOUT_HELP


@click.command("collect")
@click.argument("directory", metavar="DIR")
@click.option("--timeout", "timeout_seconds", type=Bounded(PROBE_TIMEOUT), default=None, metavar="SECONDS",
              help=TIMEOUT_HELP)
def command(directory: str, timeout_seconds: float | None) -> int:
    """Run the nvidia-smi commands and write their raw outputs plus snapshot.json into DIR (a new directory).

    Replay it anywhere with `tpdoctor scan --from DIR`.
    """
    from tpdoctor.probes.collect import collect

    result = collect(directory, timeout_seconds=timeout_seconds)
    click.echo(clean(f"tpdoctor: wrote {len(result.files)} files to {result.directory}: {', '.join(result.files)}"),
               err=True)
    for note in result.notes:
        click.echo(f"  note: {clean(note)}", err=True)
    if result.parse_error is not None:
        click.echo(f"tpdoctor: error: raw outputs saved, but they do not parse: {clean(result.parse_error)}",
                   err=True)
        click.echo("  hint: attach the directory to a bug report", err=True)
        return int(ExitCode.UNKNOWN)
    return int(ExitCode.OK)
