"""The console every rich view is printed on: whatever a renderer forgot to clean cannot drive the terminal.

The renderers clean the values they place (`model/safetext.py`: `markup()` in markup strings and table
cells, `clean()` in `Text`); this console is the backstop at the very edge. A render hook (rich's public
`RenderHook`) wraps everything printed, so each segment's text passes through `safetext` before rich
styles it: a control character, ESC sequence, C1 code, bidi control or lone surrogate left in any value
comes out as a visible escape (`\\x1b`), never as itself. Only rich's own control segments (none in our
views) and its line breaks pass. Emoji codes (`:warning:` in a host name) are not replaced.

On a stream that cannot encode Unicode (`LC_ALL=C`, `PYTHONUTF8=0`) rich draws ASCII boxes itself, and
the stream's error handler (installed by `commands/_streams.py`, with `model/safetext.py`'s ASCII table)
writes `x`, `->`, `.` for the few symbols the views use.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.segment import Segment

from tpdoctor.model.safetext import clean

_LINE_BREAK = re.compile(r"(\n)")


def _safe(text: str) -> str:
    """`clean` on each line, the line breaks rich made kept."""
    if text.isprintable() or text == "\n":
        return text
    return "".join(part if part == "\n" else clean(part, limit=len(part) + 1) for part in _LINE_BREAK.split(text))


class _Cleaned:
    """A renderable whose segments are cleaned (see the module docstring)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            if segment.control:
                yield segment
            else:
                yield Segment(_safe(segment.text), segment.style)


class _CleanHook(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [_Cleaned(r) for r in renderables]


def terminal(**kwargs: Any) -> Console:
    """A rich Console for the views (the same arguments as `Console`), with the backstop installed."""
    kwargs.setdefault("emoji", False)
    console = Console(**kwargs)
    console.push_render_hook(_CleanHook())
    return console

