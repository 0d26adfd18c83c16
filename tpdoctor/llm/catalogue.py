"""The bundled model catalogue (`data/models.yaml`), read lazily: start-up must not pay for 150+ entries.

The whole file is never parsed on the lookup path. One pass of two regular expressions over its text
finds each entry's key, its `repos:` (the published Hugging Face repo ids whose config.json it carries,
brace-expanded: `"meta-llama/Llama-3.1-8B{,-Instruct}"`) and its `aliases:`; only the entry a name resolves
to is parsed (a few dozen lines of YAML). `entries()` parses everything, for tests and the docs; a test
checks that this index and a full parse agree on every entry, so the file's layout cannot drift from what
the index reads.

Matching is exact and case-insensitive (the Hub treats `meta-llama/llama-3.1-8b` as the same repo):
- a full repo id (`org/Name`) as published;
- a name without its org (`Llama-3.1-70B-Instruct`: a local directory, or a re-upload by another org, which
  carries the same config.json);
- an alias or catalogue key (`llama-3.1-70b`).
Anything else is not found; the caller says so with the closest names (`closest`), never a silent match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: start-up cost
# one pass over the text: an entry's key line (two spaces in) or one of its repos/aliases lines (four in)
_ITEM = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^,\s][^,]*)')
_LINES = re.compile(r"^  ([A-Za-z0-9][\w.+-]*):[ \t]*$|^    (repos|aliases):[ \t]*\[(.*)\][ \t]*$", re.M)


@dataclass(frozen=True)
class Hit:
    key: str  # catalogue key
    matched: str  # the repo id or alias that matched, as the catalogue spells it
    how: str  # repo | name | alias


def expand(text: str) -> list[str]:
    """`a{,-b}c{d,e}` -> [acd, ace, a-bcd, a-bce] (shell brace expansion, no nesting)."""
    m = re.search(r"\{([^{}]*)\}", text)
    if m is None:
        return [text]
    head, tail = text[:m.start()], text[m.end():]
    return [head + alt + rest for alt in m.group(1).split(",") for rest in expand(tail)]


def _items(flow: str) -> list[str]:
    """The items of a one-line YAML flow list body. An item with braces must be quoted (YAML requires it)."""
    return [dq or sq or plain.strip() for dq, sq, plain in _ITEM.findall(flow)]


@dataclass(frozen=True)
class Index:
    text: str
    spans: dict[str, tuple[int, int]]  # key -> (start, end) of its block in `text`
    repos: dict[str, tuple[str, str]]  # lower repo id -> (key, repo id)
    names: dict[str, list[tuple[str, str]]]  # lower name (after the org) -> [(key, repo id)]
    aliases: dict[str, tuple[str, str]]  # lower alias or key -> (key, alias)
    # what callers build from one entry, by key (the text never changes): a fleet resolves the same few models
    # thousands of times, and parsing an entry's YAML each time was half of assessing a deployment
    built: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def find(self, ref: str) -> Hit | None:
        low = ref.strip().lower()
        if low in self.repos:
            key, repo = self.repos[low]
            return Hit(key, repo, "repo")
        name = low.rsplit("/", 1)[-1]
        org = low.rsplit("/", 1)[0] if "/" in low else ""
        found = self.names.get(name)
        if found:
            same_org = [f for f in found if f[1].lower().startswith(org + "/")] if org else []
            key, repo = (same_org or found)[0]
            return Hit(key, repo, "name")
        for cand in (low, name):
            if cand in self.aliases:
                key, alias = self.aliases[cand]
                return Hit(key, alias, "alias")
        return None

    def closest(self, ref: str, n: int = 3) -> list[str]:
        """Published repo ids (or aliases) whose names are nearest to `ref`'s name: first those that carry all of
        its version and size tokens (`3`, `70b` of `Llama-3-70b-chat-hf`), then by string similarity."""
        import difflib  # only for a model that is not found

        name = ref.strip().lower().rsplit("/", 1)[-1]
        pool = {**{k: v[0][1] for k, v in self.names.items()}, **{k: v[1] for k, v in self.aliases.items()
                                                                     if k not in self.names}}
        digits = {t for t in re.split(r"[-_]", name) if re.search(r"\d", t)}
        same = [k for k in pool if digits and digits <= set(re.split(r"[-_]", k))]
        same.sort(key=lambda k: -difflib.SequenceMatcher(None, name, k).ratio())
        near = difflib.get_close_matches(name, list(pool), n=n, cutoff=0.75)
        return [pool[k] for k in dict.fromkeys([*same[:2], *near])][:n]

    def raw(self, key: str) -> dict[str, Any]:
        start, end = self.spans[key]
        block = yaml.load(self.text[start:end], Loader=_LOADER)  # noqa: S506 - a safe loader
        return dict(block[key])


def build(text: str) -> Index:
    body_at = text.find("\nmodels:")
    spans: dict[str, tuple[int, int]] = {}
    repos: dict[str, tuple[str, str]] = {}
    names: dict[str, list[tuple[str, str]]] = {}
    aliases: dict[str, tuple[str, str]] = {}
    key, start = "", 0
    for m in _LINES.finditer(text, body_at):
        if m.group(1):
            if key:
                spans[key] = (start, m.start())
            key, start = m.group(1), m.start()
            aliases.setdefault(key.lower(), (key, key))
            continue
        for item in _items(m.group(3)):
            for value in (expand(item) if "{" in item else (item,)):
                low = value.lower()
                if m.group(2) == "repos":
                    repos.setdefault(low, (key, value))
                    names.setdefault(low.rsplit("/", 1)[-1], []).append((key, value))
                else:
                    aliases.setdefault(low, (key, value))
    if key:
        spans[key] = (start, len(text))
    return Index(text, spans, repos, names, aliases)


@lru_cache(maxsize=1)
def index() -> Index:
    return build((Path(__file__).resolve().parent.parent / "data" / "models.yaml").read_text(encoding="utf-8"))


def entries() -> dict[str, dict[str, Any]]:
    """Every entry, fully parsed (tests, docs; not on any command's path)."""
    data = yaml.load(index().text, Loader=_LOADER)  # noqa: S506 - a safe loader
    return dict(data["models"])
