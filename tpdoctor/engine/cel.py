"""CEL conditions through `cel-expr-python`, Google's C++ CEL (cel-cpp) behind its public import.

Why this library: it is the reference implementation of the language that Kubernetes admission policies
use; its import costs about 2 ms (the previous library, `common-expression-language`, pulled an
interactive shell with prompt_toolkit into every start: 160-230 ms); it evaluates a typical rule in about
4 µs; and it ships wheels for CPython 3.11-3.13 on x86_64 and aarch64 (Grace-based GB200 trays).

Every variable is declared dynamic (`DYN`): facts are plain dicts checked against the fact schema before
they get here, and the engine's own dry run on typed sample facts catches type errors at load time.
An evaluation error (reading an absent fact, a bad overload) comes back as `CelEvalError`, never as a
value that could pass for a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cel_expr_python import cel as _cel

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
        value = self._program.eval(data=dict(activation))
        if value.type() == _cel.Type.ERROR:
            raise CelEvalError(str(value.value()))
        return value.plain_value()
