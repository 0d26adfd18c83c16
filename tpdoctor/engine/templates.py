"""Message templates over facts: `{link.a}`, `{bench.busbw_gbps:.1f}`, literal braces as `{{` and `}}`.

Deliberately tiny and safe: a placeholder is a dotted path into plain dicts (never attribute access or
indexing, unlike `str.format`), with an optional format spec from a short whitelist. Paths are checked
against the documented fact schema when a rule loads, so a typo is a load error, not a blank at 3 a.m.
An unknown (null) fact renders as `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
_SPEC = re.compile(r"^[<>^]?(\d*)(?:\.(\d+))?[dfg%]?$")
MAX_WIDTH = 64  # a column in a message; `{x:999999999}` would build a 1 GB string per finding
MAX_PRECISION = 20


class TemplateError(ValueError):
    """A template that does not parse, with the column of the problem."""


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | tuple[tuple[str, ...], str], ...]  # literal text or (path, format spec)

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple))

    def render(self, facts: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            path, spec = part
            out.append(_format(_resolve(facts, path), spec))
        return "".join(out)


def parse(source: str) -> Template:
    """Parse a template; raises TemplateError for an unbalanced brace, a bad path or a bad format spec."""
    parts: list[str | tuple[tuple[str, ...], str]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(source):
        if m.start() > pos:
            parts.append(source[pos:m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
            continue
        if m.group(1) is None:
            raise TemplateError(f"unbalanced {token!r} at column {m.start() + 1} (write {token * 2} for a literal)")
        body = m.group(1).strip()
        path_text, _, spec = body.partition(":")
        path_text = path_text.strip()
        if not _PATH.match(path_text):
            raise TemplateError(f"bad placeholder {{{body}}} at column {m.start() + 1}: expected a dotted fact name")
        if spec:
            _check_spec(spec, body)
        parts.append((tuple(path_text.split(".")), spec))
    if pos < len(source):
        parts.append(source[pos:])
    return Template(source, tuple(parts))


def _check_spec(spec: str, body: str) -> None:
    m = _SPEC.match(spec)
    if not m:
        raise TemplateError(f"bad format spec {spec!r} in {{{body}}}")
    width, precision = m.group(1), m.group(2)
    if width and (len(width) > 3 or int(width) > MAX_WIDTH):
        raise TemplateError(f"format width {width} in {{{body}}} is too wide (at most {MAX_WIDTH})")
    if precision and (len(precision) > 3 or int(precision) > MAX_PRECISION):
        raise TemplateError(f"format precision {precision} in {{{body}}} is too long (at most {MAX_PRECISION})")


def check(template: Template, has_path: Callable[[tuple[str, ...]], bool]) -> None:
    """Raise TemplateError naming the first placeholder that names no documented fact."""
    for path in template.paths:
        if not has_path(path):
            raise TemplateError(f"template names an undocumented fact {{{'.'.join(path)}}}")


def _resolve(facts: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = facts
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v, "") for v in value)
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
