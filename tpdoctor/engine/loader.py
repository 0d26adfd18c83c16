"""Loading rule files: one YAML file per rule, checked hard at load time.

A rule file is refused, with its file, line and reason, for: bad YAML, a missing or unknown field, an id
that is not the file name, a duplicate id, a bad severity, scope or subject kind, a CEL condition that
does not compile or names an undocumented fact, and a template naming an undocumented fact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tpdoctor.engine.condition import CelError, check_condition
from tpdoctor.engine.rule import Rule
from tpdoctor.engine.schema import SCOPES, ScopeSchema
from tpdoctor.engine.templates import TemplateError, check, parse
from tpdoctor.files.owned import check_directory
from tpdoctor.files.read import read_text
from tpdoctor.files.yamlsafe import check_expansion
from tpdoctor.model.errors import InputError, RuleLoadError
from tpdoctor.model.findings import Severity

REQUIRED = ("id", "name", "scope", "each", "severity", "summary", "when", "message", "recommendation", "docs")
OPTIONAL = ("state",)
DOC_REQUIRED = ("why", "verify", "remediation", "references")
STATES = ("active", "retired")
_ID = re.compile(r"^[A-Z][A-Z0-9]*[0-9]{3}$")
MAX_RULE_BYTES = 1024 * 1024  # a rule is a few kilobytes
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: rule loading is startup cost


def builtin_rules_dir() -> Path:
    """The shipped rules: `tpdoctor/rules/` in an installed wheel, `rules/` in a source checkout."""
    packaged = resources.files("tpdoctor").joinpath("rules")
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "rules"
    if checkout.is_dir():
        return checkout
    raise RuleLoadError("built-in rules not found (neither tpdoctor/rules/ nor rules/ next to the package)",
                        hint="reinstall tpdoctor; the wheel carries its rules")


def rule_files(directory: Path) -> list[Path]:
    """Every `*.yaml`/`*.yml` entry under `directory` that is not a directory. A FIFO or a dangling symlink
    among them is listed too, so that reading it fails loudly instead of the rule going missing quietly."""
    if not directory.is_dir():
        raise RuleLoadError(f"{directory}: not a directory of rule files")
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and not p.is_dir())


def site_rule_files(directory: Path) -> list[Path]:
    """`rule_files` of a site folder (`--rules DIR`), whose rules decide verdicts of a run as root: the
    folder, every folder below it and every rule file (a symlink: its target) must belong to this user or
    root and be writable by no one else (files/owned.py), or the load stops with one line naming it."""
    files = rule_files(directory)
    try:
        check_directory(directory, "rule folder", error=RuleLoadError)
        for folder in sorted({p.parent for p in files} - {directory}):
            check_directory(folder, "rule folder", error=RuleLoadError)
        for path in files:
            if path.exists():  # a dangling link or a FIFO is refused by the reader, with its own words
                check_directory(path, "rule file", error=RuleLoadError)
    except OSError as exc:
        raise RuleLoadError(f"{directory}: cannot check the rule folder: {exc.strerror or exc}") from None
    return files


def load_rules(schemas: Sequence[ScopeSchema], extra_dirs: Sequence[Path] = (),
               include_builtin: bool = True) -> list[Rule]:
    """Load the rules of the given scopes (one fact schema each) from the built-in catalogue plus site rule
    directories; any broken file stops the load.

    Files of the other known scopes (`SCOPES`) are parsed for their id only, so `scan` pays for the node
    rules alone; a file whose scope is not known at all is refused."""
    by_scope = {s.scope: s for s in schemas}
    dirs: list[tuple[Path, bool]] = [(builtin_rules_dir(), True)] if include_builtin else []
    dirs += [(Path(d), False) for d in extra_dirs]
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for directory, builtin in dirs:
        for path in rule_files(directory) if builtin else site_rule_files(directory):
            node, data = _parse_file(path)
            other = _other_scope(data, by_scope)
            if other is not None:
                if other in seen:
                    raise RuleLoadError(f"{path}: duplicate rule id {other} (already defined in {seen[other]})")
                seen[other] = path
                continue
            rule = _build(path, node, data, by_scope, builtin)
            if rule.id in seen:
                raise RuleLoadError(f"{path}:{rule.line('id')}: duplicate rule id {rule.id} "
                                    f"(already defined in {seen[rule.id]})")
            seen[rule.id] = path
            rules.append(rule)
    return sorted(rules, key=lambda r: r.id)


def rule_ids(extra_dirs: Sequence[Path] = (), scopes: Sequence[str] = SCOPES) -> set[str]:
    """The ids of the rules of these scopes, built-in and in site directories, without building them (no
    fact schema is imported): what `--ignore`/`--severity` may name for rules a run loads only if needed."""
    out: set[str] = set()
    for directory in (builtin_rules_dir(), *(Path(d) for d in extra_dirs)):
        for path in rule_files(directory):
            data = yaml.load(_read(path), Loader=_LOADER) if path.stat().st_size < MAX_RULE_BYTES else None
            if isinstance(data, dict) and data.get("scope") in scopes and isinstance(data.get("id"), str):
                out.add(data["id"])
    return out


def _other_scope(data: Any, schemas: Mapping[str, ScopeSchema]) -> str | None:
    """The id of a well-formed rule of another known scope (to skip it), else None (load it fully)."""
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data.get("scope") not in schemas \
            and data.get("scope") in SCOPES:
        return str(data["id"])
    return None


def load_rule(path: Path, schemas: Mapping[str, ScopeSchema], builtin: bool = False) -> Rule:
    """One rule file, checked (see the module docstring)."""
    node, data = _parse_file(path)
    return _build(path, node, data, schemas, builtin)


def _parse_file(path: Path) -> tuple[Any, Any]:
    text = _read(path)
    try:
        return _parse(text, str(path))
    except InputError as exc:
        raise RuleLoadError(exc.message) from None
    except RecursionError:
        raise RuleLoadError(f"{path}:1: bad YAML: nested too deep to be a rule") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleLoadError(f"{path}:{line}: bad YAML: {problem}") from None


def _build(path: Path, node: Any, data: Any, schemas: Mapping[str, ScopeSchema], builtin: bool) -> Rule:
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise RuleLoadError(f"{path}:1: a rule file must be a YAML mapping")
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}

    def fail(key: str, reason: str) -> RuleLoadError:
        return RuleLoadError(f"{path}:{lines.get(key, 1)}: {reason}")

    for key in data:
        if key not in REQUIRED + OPTIONAL:
            raise fail(str(key), f"unknown field {key!r} (allowed: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in data:
            raise RuleLoadError(f"{path}:1: missing field {key!r}")
    for key in REQUIRED:
        if key != "docs" and not isinstance(data[key], str):
            raise fail(key, f"{key} must be a string")
    rid = data["id"]
    if not _ID.match(rid):
        raise fail("id", f"id {rid!r} is not like TPD123")
    if path.stem != rid:
        raise fail("id", f"id {rid} does not match the file name {path.name}")
    if not _NAME.match(data["name"]):
        raise fail("name", f"name {data['name']!r} is not kebab-case")
    state = data.get("state", "active")
    if state not in STATES:
        raise fail("state", f"state {state!r} is not one of {', '.join(STATES)}")
    try:
        severity = Severity(data["severity"])
    except ValueError:
        raise fail("severity", f"severity {data['severity']!r} is not one of info, warning, critical") from None
    schema = schemas.get(data["scope"])
    if schema is None:
        raise fail("scope", f"scope {data['scope']!r} is not one of {', '.join(SCOPES)}")
    each = data["each"]
    if each not in schema.subjects:
        raise fail("each", f"each {each!r} is not a {schema.scope} subject kind "
                           f"({', '.join(sorted(schema.subjects))})")
    docs = _docs(data["docs"], fail)
    templates = {}
    for key in ("message", "recommendation"):
        try:
            tpl = parse(data[key])
            check(tpl, lambda p: schema.has_path(each, p))
        except TemplateError as exc:
            raise fail(key, f"{key}: {exc}") from None
        templates[key] = tpl
    if state == "active":
        try:
            check_condition(data["when"], schema, each)
        except CelError as exc:
            raise fail("when", f"when: {exc}") from None
    return Rule(id=rid, name=data["name"], scope=schema.scope, each=each, severity=severity,
                summary=data["summary"].strip(), when=data["when"].strip(), message=templates["message"],
                recommendation=templates["recommendation"], docs=docs, path=path, state=state,
                builtin=builtin, lines=lines)


def _parse(text: str, source: str = "<rule>") -> tuple[Any, Any]:
    """The node tree (for line numbers) and the data, from one parse; an alias bomb, a recursive alias or
    deep nesting is refused (InputError) before anything is expanded."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expansion(node, source, text)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def _read(path: Path) -> str:
    try:
        return read_text(path, max_bytes=MAX_RULE_BYTES, what="a rule file")
    except InputError as exc:
        raise RuleLoadError(f"{exc.message}", hint="a rule is one regular YAML file; fix or remove it") from None


def _docs(docs: Any, fail: Any) -> dict[str, Any]:
    if not isinstance(docs, dict):
        raise fail("docs", "docs must be a mapping with why, verify, remediation, references")
    for key in docs:
        if key not in DOC_REQUIRED:
            raise fail("docs", f"docs: unknown field {key!r} (allowed: {', '.join(DOC_REQUIRED)})")
    for key in DOC_REQUIRED:
        if key not in docs:
            raise fail("docs", f"docs: missing field {key!r}")
    for key in ("why", "verify", "remediation"):
        if not isinstance(docs[key], str) or not docs[key].strip():
            raise fail("docs", f"docs.{key} must be non-empty text")
    refs = docs["references"]
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise fail("docs", "docs.references must be a list of strings")
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in docs.items()}
