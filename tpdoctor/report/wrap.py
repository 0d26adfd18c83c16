"""Line breaking for terminal and log text: hanging indents, and never a break inside a token.

rich wraps a long line back to column 0 and folds a word longer than the line in the middle, which cuts
paths and commands in two (a log or a pipe is 80 columns). `hang` breaks only between words, keeps a
`backticked command` whole (it may still move to a line of its own), indents every continuation line
under the text it continues, and lets a token longer than any line stand whole and run past the edge: the
terminal soft-wraps it, and a copy of it stays one piece. Print the result with `soft_wrap=True`.
"""

from __future__ import annotations

import re

from rich.text import Text

_TOKEN = re.compile(r"`[^`]*`\S*|\S+")


def tokens(body: str) -> list[str]:
    """Words, with a backticked span (and what sticks to it, like `cmd`;) as one."""
    return _TOKEN.findall(body)


def lines(body: str, first: int, rest: int) -> list[str]:
    """Greedy lines of at most `first` then `rest` characters, breaking only between tokens."""
    out: list[str] = []
    line = ""
    for tok in tokens(body):
        room = first if not out else rest
        if line and len(line) + 1 + len(tok) > room:
            out.append(line)
            line = tok
        else:
            line = f"{line} {tok}" if line else tok
    if line or not out:
        out.append(line)
    return out


def hang(head: Text | str, body: str, width: int, indent: int | None = None, style: str = "") -> Text:
    """`head` then `body` filled to `width`, continuation lines indented by `indent` (default: under the
    body's first character)."""
    head = head if isinstance(head, Text) else Text(head)
    indent = head.cell_len if indent is None else indent
    broken = lines(body, max(width - head.cell_len, 10), max(width - indent, 10))
    text = head.copy()
    text.append(broken[0], style=style)
    for line in broken[1:]:
        text.append("\n" + " " * indent)
        text.append(line, style=style)
    return text
