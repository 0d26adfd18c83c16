"""Options shared by commands that load rules: --rules DIR, --ignore ID[:reason], --severity ID=level."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from tpdoctor.engine.evaluate import Options
from tpdoctor.engine.rule import Rule
from tpdoctor.model.errors import RuleLoadError
from tpdoctor.model.findings import Severity


def rule_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--severity", "severity", multiple=True, metavar="ID=LEVEL",
                     help="Override a rule's severity (info, warning, critical), e.g. TPD103=critical.")(f)
    f = click.option("--ignore", "ignore", multiple=True, metavar="ID[:REASON]",
                     help="Switch a rule off; its findings are reported as suppressed with the reason.")(f)
    f = click.option("--rules", "rules_dirs", multiple=True, type=click.Path(path_type=Path),
                     metavar="DIR", help="Add site rules from DIR (YAML files, one rule each).")(f)
    return f


fail_on_option = click.option(
    "--fail-on", "fail_on", type=click.Choice(["warning", "critical"]), default="warning", show_default=True,
    callback=lambda ctx, param, value: Severity(value), help="Lowest severity that makes the exit code non-zero.")


def load(rules_dirs: Sequence[Path], ignore: Sequence[str], severity: Sequence[str],
         scopes: Sequence[str] | None = None, also: Sequence[str] = ()) -> tuple[list[Rule], Options]:
    """The rules of `scopes` and the options; `--ignore`/`--severity` may also name rules of the scopes in
    `also`, which this run loads later only if it needs them (their schemas are not imported here)."""
    from tpdoctor.report.catalogue import load_catalogue

    rules = load_catalogue(rules_dirs, scopes)
    known = {r.id for r in rules}
    if also:
        from tpdoctor.engine.loader import rule_ids

        known |= rule_ids(rules_dirs, also)
    ignored: dict[str, str] = {}
    for item in ignore:
        rid, _, reason = item.partition(":")
        rid = rid.strip().upper()
        if rid not in known:
            raise RuleLoadError(f"--ignore {rid}: no such rule{' here' if scopes else ''}",
                                hint="tpdoctor rules lists them")
        ignored[rid] = reason.strip() or "ignored with --ignore"
    overrides: dict[str, Severity] = {}
    for item in severity:
        rid, sep, level = item.partition("=")
        rid = rid.strip().upper()
        if not sep or rid not in known:
            raise RuleLoadError(f"--severity {item}: expected ID=LEVEL with a known rule id")
        try:
            overrides[rid] = Severity(level.strip().lower())
        except ValueError:
            raise RuleLoadError(f"--severity {item}: level must be info, warning or critical") from None
    return rules, Options(ignore=ignored, severity=overrides)
