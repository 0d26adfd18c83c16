"""Shared text handling for the nvidia-smi parsers: cleaning, command sections, noise lines.

Captured nvidia-smi text rarely arrives clean: shell prompts and command echoes before and after,
CRLF line ends, ANSI colour codes, author elisions ("...", "[snip]"), several commands pasted into
one file. These helpers turn such text into numbered lines and pick out the part a parser wants,
so each parser only has to understand its own format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpdoctor.model.errors import ParseError

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNI_SPACE_RE = re.compile(r"[^\S\t\n]")  # NBSP and friends from web pastes -> plain space
# "[...]", "...", "....", "[snip]", "…" - an author cut something out here.
_ELISION_RE = re.compile(r"^\s*(\[\s*(\.{2,}|…|snip|snipped|truncated)\s*\]|\.{2,}|…+)\s*$", re.IGNORECASE)
_RULER_RE = re.compile(r"^\s*([=\-#*_~`])\1{2,}.*$")
# A shell prompt with nothing after it: "[root@5900X ~]# ", "user@host:~$", "> ".
_BARE_PROMPT_RE = re.compile(r"^\s*(\(\S+\)\s*)?(\[?[\w.@:~/\-\[\] ]*[$#>%])\s*$")
_SMI_CMD_RE = re.compile(r"nvidia-smi\b(?P<args>.*)$")

KIND_TOPO_M = "topo -m"
KIND_P2P = "topo -p2p"
KIND_NVLINK_STATUS = "nvlink --status"
KIND_NVLINK_ERRORS = "nvlink -e"
KIND_NVLINK_CAPS = "nvlink -c"
KIND_QUERY_GPU = "--query-gpu"
KIND_OTHER = "other nvidia-smi"


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the original text
    text: str  # cleaned: no CR, no ANSI escapes, no control characters other than tab


@dataclass(frozen=True)
class Section:
    """A run of lines that one command produced; `kind` is None for text before any command echo."""

    kind: str | None
    arg: str  # e.g. the p2p capability letter(s) "r", "w", "rw"; "" when not applicable
    echo_line: int | None
    lines: tuple[Line, ...]


def clean_lines(text: str) -> list[Line]:
    """Split into numbered lines with CRLF/CR, ANSI escapes and stray control characters removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for i, raw in enumerate(text.split("\n"), start=1):
        s = _UNI_SPACE_RE.sub(" ", _CTRL_RE.sub("", _ANSI_RE.sub("", raw)))
        out.append(Line(i, s.rstrip()))
    return out


def is_elision(s: str) -> bool:
    return bool(_ELISION_RE.match(s))


def is_ruler(s: str) -> bool:
    return bool(_RULER_RE.match(s))


def is_bare_prompt(s: str) -> bool:
    return bool(s.strip()) and bool(_BARE_PROMPT_RE.match(s))


def command_kind(s: str) -> tuple[str, str] | None:
    """If the line echoes an nvidia-smi command, return (kind, arg); else None."""
    m = _SMI_CMD_RE.search(s)
    if not m:
        return None
    args = m.group("args")
    p2p = re.search(r"(?:-p2p|--p2pstatus)\s+([a-z]+)", args)
    if re.search(r"\btopo\b", args) and p2p:
        return KIND_P2P, p2p.group(1)
    if re.search(r"\btopo\b", args) and re.search(r"(^|\s)(-m|--matrix)\b", args):
        return KIND_TOPO_M, ""
    if re.search(r"\bnvlink\b", args):
        if re.search(r"(^|\s)(-s|--status)\b", args):
            return KIND_NVLINK_STATUS, ""
        if re.search(r"(^|\s)(-e|--errorcounters)\b", args):
            return KIND_NVLINK_ERRORS, ""
        if re.search(r"(^|\s)(-c|--capabilities)\b", args):
            return KIND_NVLINK_CAPS, ""
    if "--query-gpu" in args:
        return KIND_QUERY_GPU, ""
    return KIND_OTHER, args.strip()


def split_sections(lines: list[Line]) -> list[Section]:
    """Cut text at nvidia-smi command echoes ("$ nvidia-smi topo -m", "--- nvidia-smi topo -m ---")."""
    sections: list[Section] = []
    kind: str | None = None
    arg = ""
    echo: int | None = None
    cur: list[Line] = []
    for ln in lines:
        ck = command_kind(ln.text)
        if ck is not None:
            if cur or echo is not None:
                sections.append(Section(kind, arg, echo, tuple(cur)))
            kind, arg = ck
            echo, cur = ln.number, []
        else:
            cur.append(ln)
    sections.append(Section(kind, arg, echo, tuple(cur)))
    return [s for s in sections if s.echo_line is not None or any(x.text.strip() for x in s.lines)]


def pick_sections(text: str, kind: str, source: str, what: str) -> list[Section]:
    """Sections of `kind`; if no command echo names it, the text before any echo. Else ParseError."""
    lines = clean_lines(text)
    if not any(ln.text.strip() for ln in lines):
        raise ParseError(f"empty text, expected {what}", source=source, line=1)
    sections = split_sections(lines)
    wanted = [s for s in sections if s.kind == kind]
    if wanted:
        return wanted
    loose = [s for s in sections if s.kind is None and any(x.text.strip() for x in s.lines)]
    if loose:
        return loose
    other = next(s for s in sections if s.kind is not None)
    name = other.kind if other.kind != KIND_OTHER else f"nvidia-smi {other.arg}"
    raise ParseError(
        f"expected {what}, but the text holds the output of `{name}`", source=source, line=other.echo_line
    )


def fail(source: str, line: int | None, message: str) -> ParseError:
    return ParseError(message, source=source, line=line)
