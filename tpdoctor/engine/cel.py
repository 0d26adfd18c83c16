"""CEL conditions (the language of Kubernetes admission policies) through one of two backends.

- `cel-expr-python` (Google's C++ CEL, cel-cpp): CPython 3.11 and newer, the default there.
- `cel-python` (`celpy`, pure Python): CPython 3.9 and 3.10, where cel-expr-python ships no wheel (the
  stock Pythons of RHEL 9 and Ubuntu 22.04). pyproject.toml picks it by environment marker.

Both answer alike: the rule cases run under each (`tests/rules/`, `TPDOCTOR_CEL=cel-python`). Set
`TPDOCTOR_CEL` to `cel-expr-python` or `cel-python` to choose one; otherwise the first that imports wins.

Every variable is declared dynamic: facts are plain dicts checked against the fact schema before they get
here, and the engine's own dry run on typed sample facts catches type errors at load time. An evaluation
error (reading an absent fact, a bad overload) comes back as `CelEvalError`, never as a value that could
pass for a verdict. Each evaluation stops after about 10,000 comprehension iterations (`ITERATION_BUDGET`);
what one iteration may cost is bounded by the engine's per-rule time budget (`engine/evaluate.py`), and the
expression's length by the loader (`engine/condition.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from types import ModuleType
from typing import Any

from tpdoctor.engine.cel_errors import ITERATION_BUDGET, CelCompileError, CelEvalError
from tpdoctor.model.errors import TpdError

__all__ = ["ITERATION_BUDGET", "CelCompileError", "CelEvalError", "Program", "backend"]
BACKENDS = ("cel-expr-python", "cel-python")


@cache
def backend() -> ModuleType:
    """The CEL backend module (`TPDOCTOR_CEL` chooses; else cel-expr-python, else cel-python)."""
    wanted = os.environ.get("TPDOCTOR_CEL", "")
    if wanted and wanted not in BACKENDS:
        raise TpdError(f"TPDOCTOR_CEL={wanted!r} is not a CEL backend (use {' or '.join(BACKENDS)})")
    for name in ([wanted] if wanted else list(BACKENDS)):
        try:
            return _import(name)
        except ImportError:
            continue
    raise TpdError(f"no CEL library importable ({wanted or ' or '.join(BACKENDS)}); reinstall tpdoctor so "
                   "that pip picks the one for this Python (cel-expr-python on 3.11+, cel-python below)")


def _import(name: str) -> ModuleType:
    if name == "cel-expr-python":
        from tpdoctor.engine import cel_cpp

        return cel_cpp
    from tpdoctor.engine import cel_py

    return cel_py


class Program:
    """One compiled condition over the named variables."""

    def __init__(self, expression: str, variables: Iterable[str]) -> None:
        self._backend = backend()
        self._program = self._backend.compile_expression(expression, tuple(sorted(set(variables))))

    def execute(self, activation: Mapping[str, Any]) -> Any:
        """The expression's value as plain Python data; raises CelEvalError when evaluation fails."""
        return self._backend.evaluate(self._program, activation)
