"""One sanitiser for every string tpdoctor did not write itself and shows to a person or a parser.

Host names, GPU and NIC names, model names, paths, finding messages filled with them, rule texts from
site rule folders and error messages quoting input all come from other people and other machines: a
snapshot, a peer's report, a manifest, the kernel's host name. Written raw they can drive a terminal
(ESC/CSI/OSC sequences: clear the screen, set the title, move the cursor up and erase the CRITICAL line),
add lines to a line-based file (a newline in a host name adds a label and a second `# +expiry-time`
directive to an NFD feature file, or a line to a Nagios check), reorder what a reader sees (Unicode bidi
overrides), style or break rich output (`[bold]`, `[/]`), or crash an encoder (a lone surrogate from a
non-UTF-8 host name).

`clean(text)` makes any value one line of printable text: every C0 and C1 control (newline, tab and ESC
included), DEL, lone surrogates, the bidi embeddings, overrides, isolates and marks, and the line and
paragraph separators become a visible escape (`\\x1b`, `\\n`, `\\u202e`, `\\udcff`), so the reader sees that
something was there and what. `markup(text)` is `clean` plus rich's markup escape, for values placed in a
rich markup string or a table cell. The renderers call them on what they did not write (report/, the
error lines of cli.py and commands/), at their edge; the data keeps its value (JSON escapes controls
itself). Only the kernel's host name is cleaned where it is read (`kernel_host`): no file can hold a
lone surrogate.
"""

from __future__ import annotations

import re

MAX_SHOWN = 4096  # characters of one value shown (a report's strings are bounded to as many, model/bounds.py)

# controls, DEL, C1, lone surrogates, bidi controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI), line/paragraph separators
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKUP = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")  # the pattern of rich.markup.escape (rich's tags)


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(value: object, limit: int = MAX_SHOWN) -> str:
    """`value` as one line of printable text (see the module docstring), at most `limit` characters
    (a longer one ends in `…`)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _UNSAFE.sub(_escape, text)


def clean_lines(text: str, limit: int = 100_000) -> str:
    """A multi-line text from elsewhere (e.g. a rule's rationale) with its line breaks kept and every other
    control escaped."""
    return "\n".join(clean(line, limit) for line in text.split("\n"))


def markup(value: object, limit: int = MAX_SHOWN) -> str:
    """`clean(value)` made literal inside rich markup: `[bold]` shows as `[bold]`, `[/]` cannot close a tag."""
    text = _MARKUP.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", clean(value, limit))
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


# What an ASCII-only stream (`LC_ALL=C`, `PYTHONUTF8=0`) gets for the symbols tpdoctor's own text uses;
# anything else it cannot encode becomes `?` (cli.py installs `ascii_fallback` as the streams' error handler).
ASCII = {"✗": "x", "→": "->", "←": "<-", "↔": "<->", "·": ".", "•": "*", "…": "...", "–": "-", "—": "--",
         "−": "-", "×": "x", "µ": "u", "◀": "<", "▶": ">", "≈": "~", "≤": "<=", "≥": ">=", "§": "S", "η": "eta",
         "½": "1/2", "²": "^2", "█": "#", "▒": ":", "✓": "v", "±": "+/-", "°": " deg", "\u00a0": " "}


def ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    """A codecs error handler: the ASCII spelling of each character the stream cannot encode."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chars = error.object[error.start:error.end]
    return "".join(ASCII.get(ch) or _box(ch) for ch in chars), error.end


def _box(ch: str) -> str:
    """Box drawing (U+2500-U+257F) as ASCII lines; anything else `?`."""
    code = ord(ch)
    if 0x2500 <= code <= 0x257F:
        return "-" if code in (0x2500, 0x2501, 0x2504, 0x2505, 0x2508, 0x2509, 0x254C, 0x254D, 0x2550) else \
            "|" if code in (0x2502, 0x2503, 0x2506, 0x2507, 0x250A, 0x250B, 0x254E, 0x254F, 0x2551) else "+"
    return "?"


def kernel_host() -> str:
    """This machine's host name as the kernel gives it, made printable: the kernel accepts any 64 bytes
    (`sethostname`), Python decodes the non-UTF-8 ones to lone surrogates, which no UTF-8 file or terminal
    can take; `clean` spells them `\\udcff`. A report carries this, never the raw bytes."""
    import socket

    return clean(socket.gethostname(), 253)
