"""The rule catalogue: every scope's fact schema, loading its rules, and its Markdown (`docs/rules.md`,
`tpdoctor explain`). The one place that knows all four scopes; the engine knows none of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tpdoctor.engine.loader import load_rules
from tpdoctor.engine.rule import Rule
from tpdoctor.engine.schema import SCOPES, ScopeSchema
from tpdoctor.model.errors import RuleLoadError

HEADER = """# tpdoctor rules

Generated from `rules/` by `python -m tpdoctor.report.catalogue > docs/rules.md`; a test keeps it current.
Switch a rule off with `--ignore ID[:reason]` (its findings are then reported as suppressed), change its
severity with `--severity ID=level`, add site rules with `--rules DIR`.

"""


def rule_markdown(rule: Rule) -> str:
    d = rule.docs
    refs = "".join(f"- {r}\n" for r in d["references"])
    state = "" if rule.state == "active" else f" (state: {rule.state})"
    return (
        f"## {rule.id} {rule.name}{state}\n\n"
        f"{rule.summary}\n\n"
        f"- scope: `{rule.scope}`, evaluated for each `{rule.each}`\n"
        f"- default severity: `{rule.severity.value}`\n"
        f"- fires when: `{' '.join(rule.when.split())}`\n"
        f"- message: `{rule.message.source.strip()}`\n\n"
        f"### Why it matters\n\n{d['why']}\n\n"
        f"### How to verify by hand\n\n{d['verify']}\n\n"
        f"### How to fix\n\n{d['remediation']}\n\n"
        f"### References\n\n{refs}\n"
    )


def schema_markdown(schema: ScopeSchema) -> str:
    out = [f"## Facts: scope `{schema.scope}`\n\n{schema.doc}\n"]
    for name, sub in schema.subjects.items():
        out.append(f"\n### `{name}`{' (shared)' if name in schema.shared else ''}\n\n{sub.doc}\n\n"
                   "| fact | type | doc |\n|---|---|---|\n")
        for fname, fact in sub.all_fields().items():
            typ = fact.type + (" or null" if fact.nullable else "")
            out.append(f"| `{name}.{fname}` | {typ} | {fact.doc} |\n")
    return "".join(out) + "\n"


def catalogue_markdown(rules: Sequence[Rule], schemas: Sequence[ScopeSchema]) -> str:
    table = "| id | name | scope | each | severity | summary |\n|---|---|---|---|---|---|\n"
    table += "".join(f"| [{r.id}](#{r.id.lower()}-{r.name}) | {r.name} | {r.scope} | {r.each} | "
                     f"{r.severity.value} | {r.summary} |\n" for r in rules)
    body = "".join(rule_markdown(r) for r in rules)
    facts = "".join(schema_markdown(s) for s in schemas)
    return HEADER + table + "\n" + body + facts.rstrip("\n") + "\n"


def schema_of(scope: str) -> ScopeSchema:
    """A scope's fact schema. Imported on demand, so `scan` (node rules) never loads the deployment facts
    and their cost model; an unknown scope is an error, and a broken import is the ImportError it is."""
    if scope == "node":
        from tpdoctor.node.facts import NODE_SCHEMA

        return NODE_SCHEMA
    if scope == "deployment":
        from tpdoctor.deploy.facts import DEPLOYMENT_SCHEMA

        return DEPLOYMENT_SCHEMA
    if scope == "fleet":
        from tpdoctor.fleet.facts import FLEET_SCHEMA

        return FLEET_SCHEMA
    if scope == "running":
        from tpdoctor.running.facts import RUNNING_SCHEMA

        return RUNNING_SCHEMA
    raise RuleLoadError(f"no such rule scope: {scope!r} (scopes: {', '.join(SCOPES)})")


def schemas_for(scopes: Sequence[str] | None = None) -> list[ScopeSchema]:
    """The fact schemas of these scopes (all of `SCOPES` when None)."""
    return [schema_of(s) for s in (SCOPES if scopes is None else scopes)]


def load_catalogue(extra_dirs: Sequence[Path] = (), scopes: Sequence[str] | None = None,
                   include_builtin: bool = True) -> list[Rule]:
    """The rules of these scopes (all when None): built-in plus site rule directories."""
    return load_rules(schemas_for(scopes), extra_dirs, include_builtin=include_builtin)


def current_catalogue() -> str:
    """docs/rules.md as it should read now: the built-in rules and the fact schemas of their scopes."""
    rules = [r for r in load_catalogue() if r.builtin]
    schemas = [schema_of(name) for name in sorted({r.scope for r in rules} | {"node"})]
    return catalogue_markdown(rules, schemas)


def main() -> None:
    print(current_catalogue(), end="")


if __name__ == "__main__":
    main()
