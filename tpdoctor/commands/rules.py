"""`tpdoctor rules`: list the rule catalogue (built-in plus --rules DIR)."""

from __future__ import annotations

from pathlib import Path

import click

from tpdoctor.commands._ruleopts import load, rule_options
from tpdoctor.model.safetext import clean


@click.command("rules")
@rule_options
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def command(rules_dirs: tuple[Path, ...], ignore: tuple[str, ...], severity: tuple[str, ...], as_json: bool) -> int:
    """List every rule: id, name, scope, subject kind, default severity and summary."""
    rules, options = load(rules_dirs, ignore, severity)
    if as_json:
        import json

        data = [{"id": r.id, "name": r.name, "scope": r.scope, "each": r.each,
                 "severity": options.severity.get(r.id, r.severity).value, "state": r.state,
                 "ignored": r.id in options.ignore, "builtin": r.builtin, "summary": r.summary,
                 "path": str(r.path)} for r in rules]
        click.echo(json.dumps(data, indent=2))
        return 0
    for r in rules:
        sev = options.severity.get(r.id, r.severity).value
        flags = "".join([" [ignored]" if r.id in options.ignore else "", " [retired]" if r.state != "active" else "",
                         "" if r.builtin else " [site]"])
        click.echo(clean(f"{r.id}  {r.name:<24} {r.scope:<10} {r.each:<6} {sev:<8} {r.summary}{flags}"))
    return 0
