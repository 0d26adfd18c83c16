"""The house rules, checked: imports run downhill along the flow, no cycles, small modules and functions.

The table below is the one in docs/architecture.md (a test keeps them equal). Every import counts,
including ones inside functions: a lazy import is still a dependency, and hiding a cycle in a function
is exactly what this test is here to stop.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tpdoctor"

# package -> the packages of tpdoctor it may import (besides itself and the root `tpdoctor`).
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "files": frozenset({"model"}),
    "probes": frozenset({"model", "files"}),
    "bench": frozenset({"model", "files"}),
    "engine": frozenset({"model", "files"}),
    "llm": frozenset({"model", "files"}),
    "manifests": frozenset({"model", "files"}),
    "advice": frozenset({"model", "llm"}),
    "node": frozenset({"model", "files", "probes", "bench", "engine"}),
    "deploy": frozenset({"model", "files", "engine", "llm", "manifests", "advice"}),
    "fleet": frozenset({"model", "files", "engine", "llm", "manifests", "advice", "deploy"}),
    "running": frozenset({"model", "files", "engine", "llm", "manifests", "advice", "node", "deploy"}),
    "report": frozenset({"model", "engine", "llm", "advice", "deploy", "fleet", "node", "running"}),
    "commands": frozenset({"model", "files", "probes", "bench", "engine", "llm", "manifests", "advice", "node",
                           "deploy", "fleet", "running", "report"}),
    "cli": frozenset({"model", "commands"}),
    "__main__": frozenset({"cli"}),
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (annotations only: never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports_of(name: str, path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every tpdoctor module `name` imports, resolved to module names (a `from pkg import mod` names mod).
    `runtime_only` leaves out imports under `if TYPE_CHECKING:`."""
    known = modules()
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only(tree) if runtime_only else set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tpdoctor"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("tpdoctor"):
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found.update(subs or [target])
    return {m for m in found if m != name}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_row() -> None:
    packages = {package_of(m) for m in modules()} - {"", "data", "examples"}
    assert packages == set(ALLOWED), "add the new package to ALLOWED and to docs/architecture.md"


def test_imports_run_downhill() -> None:
    wrong = []
    for name, path in modules().items():
        own = package_of(name)
        if own == "":
            continue
        for target in imports_of(name, path):
            other = package_of(target)
            if other in ("", own):
                continue
            if other not in ALLOWED[own]:
                wrong.append(f"{name} imports {target} ({own} may import: {', '.join(sorted(ALLOWED[own]))})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    """Lazy imports included, annotation-only ones (`if TYPE_CHECKING:`) not: the graph of tpdoctor modules
    is acyclic."""
    mods = modules()
    graph = {n: {t for t in imports_of(n, p, runtime_only=True) if t in mods and t != "tpdoctor"}
             for n, p in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for t in sorted(graph[n]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [n, t])
            elif t not in state:
                visit(t, [*stack, t])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_architecture_doc_lists_the_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package, allowed in ALLOWED.items():
        row = re.search(rf"^\| `{re.escape(package)}` \|[^|]*\| (.*?) \|$", text, re.M)
        assert row, f"docs/architecture.md has no row for {package}"
        listed = {x.strip(" `") for x in row.group(1).split(",") if x.strip(" `—-")}
        assert listed == set(allowed), f"{package}: doc lists {sorted(listed)}, test {sorted(allowed)}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_functions_stay_small(name: str) -> None:
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{name}: {len(text.splitlines())} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]  # type: ignore[operator]
    assert not long, f"{name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"
