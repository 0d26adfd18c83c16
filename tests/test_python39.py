"""tpdoctor installs on the stock Python of the GPU OSes (RHEL 9: 3.9, Ubuntu 22.04: 3.10; README), but CI runs
3.11 and mypy cannot target 3.9. This test reads every shipped module (and the scripts a user runs) for what
3.9 lacks, so a change written on 3.11 cannot break the install there unnoticed; `scripts/check-pythons.sh`
runs the real interpreters where they exist.

What it looks for: syntax newer than 3.9 (`ast.parse(feature_version=(3, 9))`); `zip(strict=)`;
`datetime.UTC`; `dataclass(slots=/kw_only=)`; names of `typing`, `enum`, `itertools` and the standard
library added in 3.10+; `X | Y` evaluated at run time (outside annotations, which every module defers with
`from __future__ import annotations`); `traceback.print_exception(exc)` with one argument.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*(ROOT / "tpdoctor").rglob("*.py"), *(ROOT / "scripts").glob("*.py")])

NEWER_NAMES = {
    "typing": {"TypeAlias", "ParamSpec", "Concatenate", "TypeGuard", "Self", "Never", "LiteralString", "Required",
               "NotRequired", "assert_never", "assert_type", "reveal_type", "dataclass_transform", "override",
               "Unpack", "TypeVarTuple", "is_typeddict", "get_overloads", "clear_overloads", "TypeIs", "ReadOnly"},
    "enum": {"StrEnum", "ReprEnum", "verify", "EnumCheck", "FlagBoundary", "member", "nonmember", "global_enum"},
    "itertools": {"pairwise", "batched"},
    "datetime": {"UTC"},
    "contextlib": {"chdir", "aclosing"},
    "dataclasses": {"KW_ONLY"},
    "operator": {"call"},
    "inspect": {"get_annotations"},
}
NEWER_MODULES = {"tomllib", "zoneinfo._tzpath", "wsgiref.types"}
NEWER_BUILTINS = {"aiter", "anext", "ExceptionGroup", "BaseExceptionGroup", "EncodingWarning"}


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (deferred by `from __future__ import annotations`)."""
    inside: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            inside.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if a is not None:
                    mark(a.annotation)
            mark(node.returns)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
    return inside


def _problems(path: Path) -> list[str]:
    src = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(src, filename=str(path), feature_version=(3, 9))
    except SyntaxError as exc:
        return [f"line {exc.lineno}: syntax newer than Python 3.9 ({exc.msg})"]
    deferred = "from __future__ import annotations" in src
    annotations = _annotation_nodes(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            words = {k.arg for k in node.keywords}
            if name == "zip" and "strict" in words:
                found.append(f"line {line}: zip(strict=) is 3.10+")
            late = sorted(words & {"slots", "kw_only", "match_args"})
            if name == "dataclass" and late:
                found.append(f"line {line}: dataclass({', '.join(late)}=) is 3.10+")
            if name == "print_exception" and len(node.args) == 1 and not node.keywords:
                found.append(f"line {line}: traceback.print_exception(exc) with one argument is 3.10+")
        elif isinstance(node, ast.ImportFrom) and node.module in NEWER_NAMES:
            late = {a.name for a in node.names} & NEWER_NAMES[node.module]
            if late:
                found.append(f"line {line}: from {node.module} import {', '.join(sorted(late))} (3.10+)")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {line}: module {n} is 3.11+" for n in names if n in NEWER_MODULES]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in NEWER_NAMES.get(node.value.id, ()):
                found.append(f"line {line}: {node.value.id}.{node.attr} is 3.10+")
        elif isinstance(node, ast.Name) and node.id in NEWER_BUILTINS and isinstance(node.ctx, ast.Load):
            found.append(f"line {line}: {node.id} is 3.10+")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in annotations
              and _is_type_union(node)):
            found.append(f"line {line}: `X | Y` of types evaluated at run time is 3.10+ (use Union/Optional)")
        if not deferred and isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) in annotations:
            found.append(f"line {line}: `X | Y` in an annotation without `from __future__ import annotations`")
    return found


_TYPE_NAMES = {"int", "str", "float", "bool", "bytes", "None", "list", "dict", "tuple", "set", "frozenset", "type",
               "object", "Path"}


def _is_type_union(node: ast.BinOp) -> bool:
    """`int | None`, `list[str] | None`, `Path | str` — a union of what are clearly types, not of flags."""
    def typeish(n: ast.AST) -> bool:
        if isinstance(n, ast.Constant):
            return n.value is None
        if isinstance(n, ast.Name):
            return n.id in _TYPE_NAMES or n.id[:1].isupper() and not n.id.isupper()
        if isinstance(n, ast.Subscript):
            return typeish(n.value)
        if isinstance(n, ast.Attribute):
            return n.attr[:1].isupper() and not n.attr.isupper()
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            return typeish(n.left) and typeish(n.right)
        return False

    has_none_or_builtin = any(isinstance(n, ast.Constant) and n.value is None or isinstance(n, ast.Name)
                              and n.id in _TYPE_NAMES for n in (node.left, node.right))
    return typeish(node.left) and typeish(node.right) and has_none_or_builtin


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_runs_on_python_39(path: Path) -> None:
    assert _problems(path) == []


def test_the_checker_finds_what_39_lacks(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\n"
        "from datetime import UTC\n"
        "import datetime, itertools\n"
        "from dataclasses import dataclass\n"
        "Alias = int | None\n"
        "@dataclass(slots=True)\n"
        "class A:\n"
        "    x: int | None = None\n"
        "def f(a: list[int] | None) -> str | None:\n"
        "    flags = 1 | 2\n"
        "    isinstance(a, (int, str))\n"
        "    return [zip(a, a, strict=True), datetime.UTC, itertools.pairwise(a)]\n"
    )
    problems = _problems(sample)
    assert len(problems) == 6, problems  # UTC import, alias, slots, zip strict, datetime.UTC, pairwise
    match = tmp_path / "match.py"
    match.write_text("match 1:\n    case 1:\n        pass\n")
    assert "syntax newer than Python 3.9" in _problems(match)[0]
