"""`check-deployment --fleet`: read manifests and node reports, check across the cluster, render."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tpdoctor.engine.evaluate import Options
from tpdoctor.engine.rule import Rule
from tpdoctor.model.findings import Finding, Report, Status
from tpdoctor.model.safetext import clean

if TYPE_CHECKING:
    from tpdoctor.fleet.cluster import ClusterResult


def run_fleet(manifests: Sequence[Path], fleet_paths: Sequence[Path], max_age: str | None, rules: list[Rule],
              options: Options, fmt: str, detail: str = "findings", accept: Mapping[str, str] | None = None,
              model_configs: Mapping[str, Path] | None = None) -> Status:
    from tpdoctor.commands.fleet import judge_again
    from tpdoctor.fleet.cluster import check_cluster
    from tpdoctor.fleet.load import parse_age

    age = parse_age(max_age) if max_age else None  # a bad one is a SettingError: one line, exit 3
    result = check_cluster(manifests, fleet_paths, rules, max_age=age, options=options, judge=judge_again,
                           accept=accept, model_configs=model_configs)
    if not result.nodes:
        for p in result.problems:
            click.echo(f"tpdoctor: {clean(p.message)}", err=True)
        click.echo("tpdoctor: error: no usable node report in --fleet", err=True)
        return Status.UNKNOWN
    render(result, rules, fmt, detail)
    return result.status


def render(result: ClusterResult, rules: list[Rule], fmt: str, detail: str = "findings") -> None:
    if fmt == "json":
        from tpdoctor.report.cluster import to_json

        sys.stdout.write(to_json(result, detail))
    elif fmt == "sarif":
        from tpdoctor.model.topology import Topology
        from tpdoctor.report import sarif

        by_name = {p.deployment.name: p.deployment for p in result.placements}
        pseudo = Report(topology=Topology(host=f"fleet of {result.nodes} nodes", source="fleet", captured_at="",
                                          gpus=()), findings=result.findings, status=result.status)

        def locate(f: Finding) -> tuple[str, int | None] | None:
            dep = by_name.get(f.subject)
            if dep is None:
                return None
            o = dep.origins.get("gpus") or dep.origins.get("tp") or dep.origin("model")
            return (o.file, o.line)

        click.echo(sarif.render(pseudo, rules, locate), nl=False)
    else:
        from tpdoctor.report.cluster import render as render_text
        from tpdoctor.report.terminal import terminal

        render_text(result, terminal(highlight=False))
