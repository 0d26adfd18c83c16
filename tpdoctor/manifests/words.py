"""Words of a command line with their place in the file: `Token`, and turning shell text into tokens.

A token is one argument as the program receives it (quotes removed, variables expanded) plus the place its
text was written, so errors name file:line and `--fix` can rewrite it. A token whose value came through a
variable points at its place but is not rewritable there (`Origin.fmt == "ref"`), and lists the variables
the file never sets in `unresolved`.

Places: a shell script maps offsets to lines directly (`OffsetLocator`). A YAML string (a `sh -c` script, a
folded `command: >` block) is located by finding each word's text in the file from the scalar's first line
on (`SearchLocator`): folding and indentation change offsets, not the words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

from tpdoctor.manifests import shell
from tpdoctor.model.deployment import Origin


@dataclass(frozen=True)
class Token:
    text: str
    origin: Origin  # where this token's text is; fmt "value" for list items, "flag" inside strings
    in_string: bool = False  # part of a larger shell string (several tokens in one scalar)
    unresolved: tuple[str, ...] = ()  # variables its value needs that the file never sets
    raw: str | None = None  # as written, when it differs from `text`


class OffsetLocator:
    """Offsets in a whole file's text -> line and column."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.lines = text.split("\n")

    def origin(self, raw: str, start: int, fmt: str = "flag") -> Origin:
        line = bisect_right(self.starts, start)
        return Origin(self.source, line, start - self.starts[line - 1], raw, fmt)


class SearchLocator:
    """Words of a YAML scalar's value -> their place in the file, searched forward from the scalar."""

    def __init__(self, lines: list[str] | None, source: str, line: int | None, col: int) -> None:
        self.lines, self.source, self.start_line, self.col = lines, source, line, col
        self.cur_line, self.cur_col = (line or 1), col

    def origin(self, raw: str, start: int, fmt: str = "flag") -> Origin:
        if self.lines is None or self.start_line is None:
            return Origin(self.source, self.start_line, self.col, None, "ref")
        li, col = self.cur_line, self.cur_col
        probe = raw.strip()
        while li <= len(self.lines) and li < self.start_line + 2000:
            pos = self.lines[li - 1].find(probe, col) if probe else -1
            if pos >= 0:
                self.cur_line, self.cur_col = li, pos + len(probe)
                return Origin(self.source, li, pos, probe, fmt)
            li, col = li + 1, 0
        return Origin(self.source, self.start_line, self.col, None, "ref")


Locator = Union[OffsetLocator, SearchLocator]


def tokens(words: list[shell.RawWord], env: Mapping[str, str], loc: Locator) -> list[Token]:
    """Expand a command's words under `env`; an unquoted expansion holding spaces splits into words."""
    out: list[Token] = []
    for w in words:
        e = shell.expand(w.raw, env)
        origin = loc.origin(w.raw, w.start)
        if e.via_variable:
            origin = Origin(origin.file, origin.line, origin.col, None, "ref")
        # an unset variable's value is unknown: one word (splitting its text as written would invent flags)
        parts = [e.value] if e.quoted or not e.via_variable or e.unresolved else (e.value.split() or [""])
        for part in parts:
            if e.via_variable and not e.quoted and not part and not e.unresolved:
                continue  # `${EXTRA:+…}` or an empty variable: no word at all
            out.append(Token(part, origin, True, e.unresolved, w.raw if part != w.raw else None))
    return out


def literal(text: str, origin: Origin, in_string: bool = False) -> Token:
    return Token(text, origin, in_string)


def assignments(words: list[shell.RawWord], env: Mapping[str, str]) -> tuple[dict[str, str | None], int]:
    """Leading `NAME=value` words of a command, expanded in order: (the assignments, index of the rest). A
    value that needs something the file never sets is None: the variable is then as unknown as its source."""
    out: dict[str, str | None] = {}
    i = 0
    while i < len(words):
        a = shell.assignment(words[i].raw)
        if a is None:
            break
        known = {**env, **{k: v for k, v in out.items() if v is not None}}
        for k, v in out.items():
            if v is None:
                known.pop(k, None)
        e = shell.expand(a[1], known)
        out[a[0]] = None if e.unresolved else e.value
        i += 1
    return out, i


def apply(env: dict[str, str], assigned: Mapping[str, str | None]) -> None:
    """Set (or, for an unknown value, unset) variables in `env`."""
    for k, v in assigned.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
