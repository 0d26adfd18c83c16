"""The errors and limits every CEL backend shares (`engine/cel.py` picks the backend)."""

from __future__ import annotations

ITERATION_BUDGET = ("exceeded CEL's iteration budget (about 10,000 comprehension steps per evaluation); "
                    "nested comprehensions over long lists belong in a fact computed in Python")
ITERATIONS = 10_000  # cel-cpp's own default comprehension budget; the cel-python backend counts the same


class CelCompileError(ValueError):
    """An expression that does not compile; `undeclared` names the first unknown variable, if that is why."""

    def __init__(self, message: str, undeclared: str | None = None) -> None:
        super().__init__(message)
        self.undeclared = undeclared


class CelEvalError(RuntimeError):
    """An expression that compiled but could not be evaluated on these facts."""
