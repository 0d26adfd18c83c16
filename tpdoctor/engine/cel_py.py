"""The cel-python backend (`celpy`, a pure-Python CEL), for CPython 3.9 and 3.10, where cel-expr-python has
no wheels (Ubuntu 22.04's and RHEL 9's stock Pythons).

It is made to answer exactly as the cel-expr-python backend does (`tests/rules/` run the rule cases under
both): variables are declared up front (an unknown name is a compile error naming it), numbers compare
across int and double as cel-cpp does (`1 == 1.0`, `link.nvlinks > 0.5`), results come back as plain
Python values, and an evaluation stops after the same comprehension budget (about 10,000 iterations).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import celpy
import celpy.celtypes as ct
import celpy.evaluation as ev
import lark

from tpdoctor.engine.cel_errors import ITERATION_BUDGET, ITERATIONS, CelCompileError, CelEvalError

NAME = "cel-python"
_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_ENV = celpy.Environment()
_local = threading.local()


class _BudgetExceeded(BaseException):
    """Raised from inside celpy's evaluator; a BaseException so that celpy does not turn it into a value."""


def _counting(original: Callable[..., Any]) -> Callable[..., Any]:
    def set_activation(self: Any, values: Any) -> Any:
        left = getattr(_local, "left", None)
        if left is not None:  # only while one of our evaluations runs: each macro step binds its variable here
            if left <= 0:
                raise _BudgetExceeded
            _local.left = left - 1
        return original(self, values)
    return set_activation


ev.Evaluator.set_activation = _counting(ev.Evaluator.set_activation)  # type: ignore[method-assign]


def _numeric(compare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """cel-cpp compares int and double by value; celpy refuses the mix, so widen the int first."""
    def widened(a: Any, b: Any) -> Any:
        for operand in (a, b):
            if isinstance(operand, celpy.CELEvalError):  # an absent fact stays that error, whatever compares it
                return operand
        if isinstance(b, ct.DoubleType) and isinstance(a, (ct.IntType, ct.UintType)):
            a = ct.DoubleType(a)
        elif isinstance(a, ct.DoubleType) and isinstance(b, (ct.IntType, ct.UintType)):
            b = ct.DoubleType(b)
        return compare(a, b)
    return widened


def _heterogeneous(compare: Callable[[Any, Any], Any], equal: bool) -> Callable[[Any, Any], Any]:
    """cel-cpp's heterogeneous equality: values of different types are unequal (`1 != null` is true)."""
    def compared(a: Any, b: Any) -> Any:
        for operand in (a, b):
            if isinstance(operand, celpy.CELEvalError):  # an absent fact, a failed operation: stays an error
                return operand
        if a is None or b is None:
            return ct.BoolType((a is None and b is None) == equal)
        try:
            result = compare(a, b)
        except TypeError:
            return ct.BoolType(not equal)
        return ct.BoolType(not equal) if isinstance(result, celpy.CELEvalError) else result
    return compared


_FUNCTIONS = {op: _numeric(ev.base_functions[op]) for op in ("_<_", "_<=_", "_>_", "_>=_")}
_FUNCTIONS["_==_"] = _heterogeneous(_numeric(ev.base_functions["_==_"]), True)
_FUNCTIONS["_!=_"] = _heterogeneous(_numeric(ev.base_functions["_!=_"]), False)


def _names(tree: lark.Tree) -> Iterator[str]:
    """Free identifiers, in order: a `primary` ident that no enclosing macro binds."""
    def walk(node: Any, bound: frozenset[str]) -> Iterator[str]:
        if not isinstance(node, lark.Tree):
            return
        if node.data == "member_dot_arg" and str(node.children[1]) in _MACROS and len(node.children) > 2:
            args = node.children[2].children if isinstance(node.children[2], lark.Tree) else []
            var = next((str(i.children[0]) for i in args[0].find_data("ident")), None) if args else None
            yield from walk(node.children[0], bound)
            for arg in args[1:]:
                yield from walk(arg, bound | {var} if var else bound)
            return
        if node.data == "primary" and node.children and isinstance(node.children[0], lark.Tree) \
                and node.children[0].data == "ident":
            name = str(node.children[0].children[0])
            if name not in bound:
                yield name
            return
        for child in node.children:
            yield from walk(child, bound)
    return walk(tree, frozenset())


def compile_expression(expression: str, variables: tuple[str, ...]) -> Any:
    try:
        tree = _ENV.compile(expression)
    except celpy.CELParseError as exc:
        raise CelCompileError(" ".join(str(exc).split())) from None
    for name in _names(tree):
        if name not in variables and name not in ("null", "true", "false"):
            raise CelCompileError(f"undeclared reference to '{name}'", name)
    return _ENV.program(tree, functions=_FUNCTIONS)


def _plain(value: Any) -> Any:
    if isinstance(value, ct.BoolType):
        return bool(value)
    if isinstance(value, (ct.IntType, ct.UintType)):
        return int(value)
    if isinstance(value, ct.DoubleType):
        return float(value)
    if isinstance(value, ct.StringType):
        return str(value)
    if isinstance(value, ct.ListType):
        return [_plain(v) for v in value]
    if isinstance(value, ct.MapType):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def evaluate(program: Any, activation: Mapping[str, Any]) -> Any:
    data = {name: celpy.json_to_cel(value) for name, value in activation.items()}
    _local.left = ITERATIONS
    try:
        value = program.evaluate(data)
    except _BudgetExceeded:
        raise CelEvalError(ITERATION_BUDGET) from None
    except celpy.CELEvalError as exc:
        raise CelEvalError(" ".join(str(exc.args[0] if exc.args else exc).split())[:200]) from None
    except (TypeError, ValueError, KeyError, ZeroDivisionError) as exc:
        raise CelEvalError(" ".join(str(exc).split())[:200]) from None
    finally:
        _local.left = None
    return _plain(value)
