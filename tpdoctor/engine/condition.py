"""Static checks of a rule's CEL condition: which facts it reads, that it compiles over its scope's
variables, names only documented facts and gives a boolean on well-typed sample facts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tpdoctor.engine.cel import CelCompileError, CelEvalError, Program
from tpdoctor.engine.schema import Fact, ScopeSchema
from tpdoctor.model.errors import TpdError

_STRING = re.compile(r"""(?:[rR]?'''.*?'''|[rR]?\"\"\".*?\"\"\"|[rR]?'(?:\\.|[^'\\])*'|[rR]?"(?:\\.|[^"\\])*")""",
                     re.S)
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
MAX_CONDITION_CHARS = 4000  # the longest built-in condition is ~350; heavy logic belongs in a fact
_SAMPLE = {"bool": False, "int": 1, "float": 1.0, "string": "x", "list": [], "map": {}}


class CelError(TpdError):
    """A condition that does not compile, names an undocumented fact, or fails on well-typed facts."""


@dataclass(frozen=True)
class Refs:
    """What a condition reads: per variable, the set of top-level facts, or None for "the whole object"."""

    fields: Mapping[str, frozenset[str] | None]


def analyse(expression: str, schema: ScopeSchema, each: str) -> Refs:
    """Statically find the facts an expression reads; raise CelError for an undocumented one."""
    variables = schema.variables_for(each)
    code = _STRING.sub('""', expression)
    locals_ = set(_COMPREHENSION.findall(code))
    refs: dict[str, frozenset[str] | None] = {}
    for var in variables:
        uses = list(re.finditer(rf"(?<![\w.]){var}\b((?:\s*\.\s*[A-Za-z_]\w*)*)", code))
        if var in locals_ or not uses:
            continue
        names: set[str] | None = set()
        for m in uses:
            path = [p.strip() for p in m.group(1).split(".")[1:]]
            if not path:
                names = None  # the whole object is used (size(link), has(...) on it, passed along)
                continue
            if not schema.has_path(each, [var, *path]):
                raise CelError(f"names an undocumented fact {var}.{'.'.join(path)}")
            if names is not None:
                names.add(path[0])
        refs[var] = frozenset(names) if names is not None else None
    return Refs(refs)


def check_condition(expression: str, schema: ScopeSchema, each: str) -> Program:
    """Compile, check the names it reads and dry-run it on typed sample facts (catches type errors)."""
    allowed = schema.variables_for(each)
    if len(expression) > MAX_CONDITION_CHARS:
        raise CelError(f"is {len(expression):,} characters long (at most {MAX_CONDITION_CHARS:,}); compute heavy "
                       "logic as a fact in Python and test that")
    try:
        program = Program(expression, allowed)
    except CelCompileError as exc:
        if exc.undeclared is not None:
            raise CelError(f"names {exc.undeclared!r}, which is not a fact here "
                           f"(use {', '.join(sorted(allowed))})") from None
        raise CelError(f"does not compile: {exc}") from None
    analyse(expression, schema, each)
    sample = {v: _sample(schema.subjects[v].all_fields()) for v in allowed}
    try:
        result = program.execute(sample)
    except CelEvalError as exc:
        raise CelError(f"fails on well-typed facts: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(result, bool):
        raise CelError(f"must be a boolean expression, gives {type(result).__name__}")
    return program


def _sample(fields: Mapping[str, Fact]) -> dict[str, Any]:
    return {name: (_sample(f.fields) if f.type == "map" and f.fields else _SAMPLE[f.type])
            for name, f in fields.items()}


