"""YAML from other people, with limits: PyYAML's safe loader plus a check of the composed node graph.

A YAML alias is a reference, so a few hundred bytes of nested aliases ("billion laughs") compose to a
small graph that expands to billions of nodes as soon as anything walks it, and an alias can even refer
to its own ancestor. `check_expansion` measures the expanded size of a composed document without
expanding it (memoised per node) and refuses a recursive alias or an expansion beyond `MAX_NODES`.
Manifest and rule loading call it before they convert a single value.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from tpdoctor.model.errors import InputError

MAX_NODES = 200_000  # a 10,000-deployment job file composes to ~150,000 nodes
MAX_DEPTH = 200  # nesting; deeper is not a manifest (and Python's recursion would give out)


def check_expansion(node: Any, source: str, text: str | None = None) -> None:
    """Raise InputError when the document under `node` expands past MAX_NODES, nests past MAX_DEPTH or holds
    an alias to one of its own ancestors. Given the `text` it was composed from, a text without an anchor
    (`&`) is passed at once: with no anchor there is no alias, the graph is a tree no larger than the text,
    and libyaml's own nesting limit (1,000) holds (callers still turn a RecursionError into a refusal)."""
    if text is not None and "&" not in text:
        return
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: Any, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise InputError(f"{source}:{n.start_mark.line + 1}: recursive YAML alias (a node that contains itself)")
        if depth > MAX_DEPTH:
            raise InputError(f"{source}:{n.start_mark.line + 1}: YAML nested deeper than {MAX_DEPTH} levels")
        total = 1
        if isinstance(n, (yaml.SequenceNode, yaml.MappingNode)):
            open_.add(key)
            children = n.value if isinstance(n, yaml.SequenceNode) else [c for kv in n.value for c in kv]
            for child in children:
                total += size(child, depth + 1)
                if total > MAX_NODES:
                    raise InputError(f"{source}:{n.start_mark.line + 1}: YAML expands to more than {MAX_NODES:,} "
                                     "nodes through its aliases (an alias bomb?)")
            open_.discard(key)
        sizes[key] = total
        return total

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * MAX_DEPTH + 100))
    try:
        size(node, 0)
    finally:
        sys.setrecursionlimit(limit)
