"""`tpdoctor explain TPD100`: a rule's documentation."""

from __future__ import annotations

from pathlib import Path

import click

from tpdoctor.commands._ruleopts import load, rule_options
from tpdoctor.engine.rule import by_id
from tpdoctor.model.errors import RuleLoadError
from tpdoctor.model.safetext import clean_lines
from tpdoctor.report.catalogue import rule_markdown


@click.command("explain")
@click.argument("rule_id")
@rule_options
def command(rule_id: str, rules_dirs: tuple[Path, ...], ignore: tuple[str, ...], severity: tuple[str, ...]) -> int:
    """Explain RULE_ID: why it matters, how to verify by hand with nvidia-smi, how to fix it."""
    rules, _ = load(rules_dirs, ignore, severity)
    rule = by_id(rules, rule_id)
    if rule is None:
        raise RuleLoadError(f"no rule {rule_id!r}", hint="tpdoctor rules lists them")
    click.echo(clean_lines(rule_markdown(rule)), nl=False)  # a site rule's text drives no terminal
    return 0
