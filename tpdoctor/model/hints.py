"""`typing.get_type_hints` that also reads `X | None` annotations on CPython 3.9.

Every module writes its annotations as strings (`from __future__ import annotations`), and the codec and
the contract read them back. CPython 3.10 evaluates `int | None` natively; on 3.9 (RHEL 9's stock Python)
the string is rewritten to `typing.Union[int, None]` before it is evaluated. Same result on every version.
"""

from __future__ import annotations

import ast
import sys
import types
import typing
from functools import cache
from typing import Any


class _Unions(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802  (ast's visitor naming)
        self.generic_visit(node)
        if not isinstance(node.op, ast.BitOr):
            return node
        union = ast.Attribute(value=ast.Name(id="__typing__", ctx=ast.Load()), attr="Union", ctx=ast.Load())
        return ast.Subscript(value=union, slice=ast.Tuple(elts=[node.left, node.right], ctx=ast.Load()),
                             ctx=ast.Load())


@cache
def _rewrite(annotation: str) -> str:
    tree = _Unions().visit(ast.parse(annotation, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


def type_hints(cls: Any) -> dict[str, Any]:
    """The evaluated annotations of `cls` and its bases, as `typing.get_type_hints` gives them on 3.10+."""
    if sys.version_info >= (3, 10):
        return typing.get_type_hints(cls)
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        module = sys.modules.get(base.__module__)
        namespace = {**vars(module), "__typing__": typing} if module else {"__typing__": typing}
        for name, value in base.__dict__.get("__annotations__", {}).items():
            hints[name] = eval(_rewrite(value), namespace) if isinstance(value, str) else value  # noqa: S307
    return hints


def is_union(origin: Any) -> bool:
    """`typing.get_origin` of a type says a union: `typing.Union[...]`, or on 3.10+ `X | Y` (types.UnionType)."""
    return origin is typing.Union or (sys.version_info >= (3, 10) and origin is getattr(types, "UnionType", None))
