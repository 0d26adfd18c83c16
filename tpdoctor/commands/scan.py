"""`tpdoctor scan`: read this node (or a capture of one), judge it, show it."""

from __future__ import annotations

import sys

import click

from tpdoctor.commands._bounded import Bounded
from tpdoctor.model.findings import Report
from tpdoctor.model.settings import PROBE_TIMEOUT
from tpdoctor.node.verdict import scan
from tpdoctor.probes import PROBE_KINDS
from tpdoctor.probes.limits import TIMEOUT_HELP


def emit(report: Report, as_json: bool, banner: str | None = None, footer: str | None = None) -> None:
    """Print the report on stdout: the tpdoctor/v1 JSON contract, or the rich view."""
    if as_json:
        from tpdoctor.model.contract import render as render_json

        sys.stdout.write(render_json(report))
        return
    from tpdoctor.report.terminal import terminal
    from tpdoctor.report.text import render as render_text

    render_text(report, terminal(), banner=banner, footer=footer)


@click.command("scan")
@click.option("--from", "from_path", metavar="PATH", default=None,
              help="Replay a capture instead of probing: a raw `nvidia-smi topo -m` file, a `tpdoctor "
                   "collect` directory, or a tpdoctor JSON report/snapshot; - reads standard input.")
@click.option("--probe", type=click.Choice(PROBE_KINDS), default="auto", show_default=True,
              help="Live probe: nvml (NVML only), smi (nvidia-smi only), or auto (NVML merged with "
                   "nvidia-smi; nvidia-smi alone when NVML cannot start).")
@click.option("--timeout", "timeout_seconds", type=Bounded(PROBE_TIMEOUT), default=None, metavar="SECONDS",
              help=TIMEOUT_HELP)
@click.option("--bench", "bench", is_flag=True,
              help="Also measure every GPU pair of this machine with a short all-reduce (needs torch: "
                   "tpdoctor[bench]); busbw lands on the links, below-expected pairs are TPD106, failed "
                   "measurements TPD109. Refused with --from a capture of another host.")
@click.option("--json", "as_json", is_flag=True, help="Print the tpdoctor/v1 JSON contract.")
def command(from_path: str | None, probe: str, timeout_seconds: float | None, bench: bool, as_json: bool) -> int:
    """Read the GPU topology and NVLink health of this node (or of a capture) and report it.

    Exit codes: 0 ok (every check made and passed), 1 warning (a degraded NVLink), 2 critical (an NVLink
    down), 3 unknown (probe failed, no driver, bad input, or evidence missing: the report's "Not checked"
    section names what and the command that answers it).
    """
    report = scan(from_path, probe, timeout_seconds, bench=bench)
    emit(report, as_json)
    return int(report.status.exit_code)
