"""CEL conditions through `cel-expr-python`, Google's C++ CEL (cel-cpp) behind its public import.

Why this library: it is the reference implementation of the language that Kubernetes admission policies
use; its import costs about 2 ms (the previous library, `common-expression-language`, pulled an
interactive shell with prompt_toolkit into every start: 160-230 ms); it evaluates a typical rule in about
4 µs; and it ships wheels for CPython 3.11-3.13 on x86_64 and aarch64 (Grace-based GB200 trays).

Every variable is declared dynamic (`DYN`): facts are plain dicts checked against the fact schema before
they get here, and the engine's own dry run on typed sample facts catches type errors at load time.
An evaluation error (reading an absent fact, a bad overload) comes back as `CelEvalError`, never as a
value that could pass for a verdict.

Cost: cel-expr-python exposes no cost limit of its own, but its runtime stops every evaluation after
about 10,000 comprehension iterations ("Iteration budget exceeded"): nested `.all()` over long lists ends
in milliseconds as a `CelEvalError`, and the engine reports "could not judge". What one iteration may
cost (building long strings or lists in a comprehension body) is bounded by the engine's per-rule time
budget (`engine/evaluate.py`), and the expression's length by the loader (`engine/condition.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cel_expr_python import cel as _cel

ITERATION_BUDGET = ("exceeded CEL's iteration budget (about 10,000 comprehension steps per evaluation); "
                    "nested comprehensions over long lists belong in a fact computed in Python")
_UNDECLARED = re.compile(r"undeclared reference to '([A-Za-z_][\w.]*)'")


class CelCompileError(ValueError):
    """An expression that does not compile; `undeclared` names the first unknown variable, if that is why."""

    def __init__(self, message: str, undeclared: str | None = None) -> None:
        super().__init__(message)
        self.undeclared = undeclared


class CelEvalError(RuntimeError):
    """An expression that compiled but could not be evaluated on these facts."""


@lru_cache(maxsize=64)
def _env(variables: tuple[str, ...]) -> Any:
    return _cel.NewEnv(variables={name: _cel.Type.DYN for name in variables})


class Program:
    """One compiled condition over the named variables."""

    def __init__(self, expression: str, variables: Iterable[str]) -> None:
        try:
            self._program = _env(tuple(sorted(set(variables)))).compile(expression)
        except RuntimeError as exc:
            text = str(exc)
            found = _UNDECLARED.search(text)
            undeclared = found.group(1).split(".")[0] if found else None
            detail = text.split("ERROR: <input>:", 1)[-1].split("\n", 1)[0]
            raise CelCompileError(" ".join(detail.split()), undeclared) from None

    def execute(self, activation: Mapping[str, Any]) -> Any:
        """The expression's value as plain Python data; raises CelEvalError when evaluation fails."""
        try:
            value = self._program.eval(data=dict(activation))
        except RuntimeError as exc:  # the runtime's own limits, e.g. "INTERNAL: Iteration budget exceeded"
            text = str(exc)
            if "Iteration budget exceeded" in text:
                raise CelEvalError(ITERATION_BUDGET) from None
            raise CelEvalError(" ".join(text.split())[:200]) from None
        if value.type() == _cel.Type.ERROR:
            raise CelEvalError(str(value.value()))
        return value.plain_value()
