"""`tpdoctor scan`: read this node (or a capture of one), judge it, show it."""

from __future__ import annotations

import sys

import click

from tpdoctor.model.findings import Report
from tpdoctor.probes import PROBE_KINDS


def scan_report(from_path: str | None, probe: str, timeout_seconds: float | None, bench: bool = False) -> Report:
    """The use case: live probe or replay, optionally a short pairwise all-reduce, then the verdict."""
    from tpdoctor.node.verdict import report_for

    if from_path is not None:
        from tpdoctor.probes.replay import load_report

        loaded = load_report(from_path)
        topology, results = loaded.topology, tuple(loaded.bench)
    else:
        from tpdoctor.probes import probe_live

        topology, results = probe_live(probe, timeout_seconds=timeout_seconds), ()
    if bench:  # torch is imported only here, inside the benchmark runner
        from tpdoctor.bench.session import short_pairs_bench

        topology, measured = short_pairs_bench(topology)
        results = results + measured
    return report_for(topology, bench=results)


def emit(report: Report, as_json: bool, banner: str | None = None) -> None:
    """Print the report on stdout: the tpdoctor/v1 JSON contract, or the rich view."""
    if as_json:
        from tpdoctor.model.contract import render as render_json

        sys.stdout.write(render_json(report))
        return
    from rich.console import Console

    from tpdoctor.report.text import render as render_text

    render_text(report, Console(), banner=banner)


@click.command("scan")
@click.option("--from", "from_path", metavar="PATH", default=None,
              help="Replay a capture instead of probing: a raw `nvidia-smi topo -m` file, a `tpdoctor "
                   "collect` directory, or a tpdoctor JSON report/snapshot.")
@click.option("--probe", type=click.Choice(PROBE_KINDS), default="auto", show_default=True,
              help="Live probe: nvml (NVML only), smi (nvidia-smi only), or auto (NVML merged with "
                   "nvidia-smi; nvidia-smi alone when NVML cannot start).")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
              help="Timeout for each nvidia-smi command and for the whole NVML read "
                   "(default 10, or $TPDOCTOR_PROBE_TIMEOUT).")
@click.option("--bench", "bench", is_flag=True,
              help="Also measure every GPU pair with a short all-reduce (needs torch: tpdoctor[bench]); "
                   "busbw lands on the links and below-expected pairs are findings (TPD106).")
@click.option("--json", "as_json", is_flag=True, help="Print the tpdoctor/v1 JSON contract.")
def command(from_path: str | None, probe: str, timeout_seconds: float | None, bench: bool, as_json: bool) -> int:
    """Read the GPU topology and NVLink health of this node (or of a capture) and report it.

    Exit codes: 0 ok, 1 warning (a degraded NVLink), 2 critical (an NVLink down), 3 unknown
    (probe failed, no driver, bad input).
    """
    report = scan_report(from_path, probe, timeout_seconds, bench)
    emit(report, as_json)
    return int(report.status.exit_code)
