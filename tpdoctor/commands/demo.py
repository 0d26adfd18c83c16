"""`tpdoctor demo`: scan the bundled example node, for machines without a GPU (and first impressions)."""

from __future__ import annotations

import click

from tpdoctor.commands.scan import emit


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the tpdoctor/v1 JSON contract.")
@click.option("--exit-status", is_flag=True,
              help="Exit with the example's status code (2: critical) instead of 0.")
def command(as_json: bool, exit_status: bool) -> int:
    """Scan the bundled example node: 4× H100 NVL whose GPU0–GPU1 NVLink bridge is down.

    This is not a live reading of this machine; run `tpdoctor scan` on a GPU node for that.
    """
    from tpdoctor.node.verdict import report_for
    from tpdoctor.probes.replay import EXAMPLE_NAME, example_path, load

    path = example_path()
    report = report_for(load(path))
    banner = (f" DEMO: the bundled example node '{EXAMPLE_NAME}' (synthetic 4× H100 NVL), not a live "
              f"reading of this machine; run `tpdoctor scan` on a GPU node. Its files: {path} ")
    code = int(report.status.exit_code)
    footer = None if exit_status else (f"the example's status; the demo itself exits 0 so that the try-it "
                                       f"command ends cleanly (`tpdoctor demo --exit-status` exits {code})")
    if as_json:
        click.echo(banner.strip(), err=True)
        emit(report, True)
    else:
        emit(report, False, banner=banner, footer=footer)
    return code if exit_status else 0
