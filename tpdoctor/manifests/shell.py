"""Shell text as a launcher sees it: simple commands, words with their exact place, variables resolved.

Two steps, both total functions (any text gives an answer, never an exception):
- `commands(text)` splits text into simple commands (`;`, `&&`, `||`, `|`, `&`, newlines; backslash
  continuations joined; comments, redirections and here-documents dropped; `if`/`then`/`do`… keywords
  skipped) and each command into `RawWord`s: the word as written plus its offset in `text`.
- `expand(word, env)` gives the word's value: quotes removed, `$VAR`, `${VAR}`, `${VAR:-default}`,
  `${VAR-default}`, `${VAR:+alt}`, `$((arithmetic))` evaluated from `env`. What cannot be known from the
  file (`$(command)`, `$1`, a variable never set) is reported by name in `unresolved`, and the value keeps
  the reference text so nothing pretends to be a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case", "esac",
             "{", "}", "!", "(", ")", "function", "time", "[[", "]]"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\+?=(.*)$", re.DOTALL)
_REDIRECT = re.compile(r"^(\d*|&)(>>?|<<?<?|>&|<&|&>>?|>\|)(.*)$")
MAX_EXPANSION = 100_000  # a value longer than this is not a setting


@dataclass(frozen=True)
class RawWord:
    raw: str  # as written (quotes and all)
    start: int  # offset in the text
    end: int


@dataclass(frozen=True)
class Expanded:
    value: str
    unresolved: tuple[str, ...] = ()  # variable names (or $1, $(cmd)) the value needs and the text never sets
    via_variable: bool = False  # some of the value came from a variable (not rewritable in place)
    quoted: bool = False  # the expansion sat inside quotes (no word splitting)


def assignment(raw: str) -> tuple[str, str] | None:
    """`NAME=value` -> (NAME, raw value), else None."""
    m = _ASSIGN.match(raw)
    return (m.group(1), m.group(2)) if m else None


class Command(list[RawWord]):
    """The words of one simple command; `background`: it ends with a single `&` (the shell does not wait)."""

    background: bool = False


def commands(text: str) -> list[Command]:
    """Simple commands of a shell text, each a list of words (offsets into `text`)."""
    out: list[Command] = []
    cur: list[RawWord] = []
    i, n = 0, len(text)
    heredocs: list[str] = []
    skip_next = False

    def end_command(sep: str = "") -> None:
        nonlocal cur
        words = Command(cur)
        while words and words[0].raw in _KEYWORDS:
            words = Command(words[1:])
        if words:
            words.background = sep == "&"
            out.append(words)
        cur = []

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            end_command()
            i += 1
            for tag in heredocs:
                i = _skip_heredoc(text, i, tag)
            heredocs = []
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in ";&|":
            j = i + 1
            while j < n and text[j] in ";&|":
                j += 1
            end_command(text[i:j])
            i = j
            continue
        j = _word_end(text, i)
        raw = text[i:j]
        if skip_next:
            skip_next = False
        else:
            m = _REDIRECT.match(raw)
            if m and not raw.startswith(("<(", ">(")):
                if m.group(2).startswith("<<") and not m.group(2).startswith("<<<"):
                    tag = m.group(3) or _next_word(text, j)
                    heredocs.append(tag.strip("'\"-"))
                if not m.group(3) and m.group(2) not in (">&", "<&"):
                    skip_next = True  # `> file`: the target is the next word
            else:
                cur.append(RawWord(raw, i, j))
        i = j
    end_command()
    return out


def _next_word(text: str, i: int) -> str:
    while i < len(text) and text[i] in " \t":
        i += 1
    return text[i:_word_end(text, i)] if i < len(text) else ""


def _skip_heredoc(text: str, i: int, tag: str) -> int:
    while i < len(text):
        j = text.find("\n", i)
        line = text[i:] if j < 0 else text[i:j]
        i = len(text) if j < 0 else j + 1
        if line.strip() == tag:
            break
    return i


def _word_end(text: str, i: int) -> int:
    """End offset of the word starting at `i` (quotes, `$(…)`, `${…}` and backticks kept whole)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n;&|":
            return i
        if c == "\\":
            i += 2
        elif c == "'":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
        elif c == '"':
            i = _dquote_end(text, i)
        elif c == "`":
            j = text.find("`", i + 1)
            i = n if j < 0 else j + 1
        elif c == "$" and i + 1 < n and text[i + 1] in "({" or c in "<>" and i + 1 < n and text[i + 1] == "(":
            i = _balanced_end(text, i + 1)
        else:
            i += 1
    return n


def _dquote_end(text: str, i: int) -> int:
    n = len(text)
    i += 1
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "$" and i + 1 < n and text[i + 1] in "({":
            i = _balanced_end(text, i + 1)
        else:
            i += 1
    return n


def _balanced_end(text: str, i: int) -> int:
    """`text[i]` is `(` or `{`: the offset after its matching closer (quotes inside respected)."""
    opener = text[i]
    closer = ")" if opener == "(" else "}"
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and opener == "(":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            i = _dquote_end(text, i)
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def expand(raw: str, env: Mapping[str, str]) -> Expanded:
    """The value of one word under `env` (see the module docstring)."""
    out: list[str] = []
    unresolved: list[str] = []
    via = quoted = False
    i, n = 0, len(raw)
    in_dq = False
    while i < n:
        c = raw[i]
        if c == "'" and not in_dq:
            j = raw.find("'", i + 1)
            j = n if j < 0 else j
            out.append(raw[i + 1:j])
            quoted = True
            i = j + 1
        elif c == '"':
            in_dq = not in_dq
            quoted = True
            i += 1
        elif c == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            out.append(nxt if not in_dq or nxt in '$`"\\' else "\\" + nxt)
            i += 2
        elif c == "$" and i + 1 < n:
            text, i, names, used = _dollar(raw, i, env)
            out.append(text)
            unresolved += names
            via = via or used
        elif c == "`":
            j = raw.find("`", i + 1)
            j = n if j < 0 else j
            unresolved.append(f"$({raw[i + 1:j].strip()})")
            out.append(raw[i:j + 1])
            via = True
            i = j + 1
        else:
            out.append(c)
            i += 1
        if sum(len(p) for p in out) > MAX_EXPANSION:
            return Expanded(raw, (raw[:40],), True, quoted)
    return Expanded("".join(out), tuple(dict.fromkeys(unresolved)), via, quoted)


def _dollar(raw: str, i: int, env: Mapping[str, str]) -> tuple[str, int, list[str], bool]:
    """Expand the `$…` at `raw[i]`: (text, next index, unresolved names, came from a variable)."""
    nxt = raw[i + 1]
    if raw.startswith("$((", i):
        end = _balanced_end(raw, i + 1)
        expr = raw[i + 3:end - 2]
        value, missing = arithmetic(expr, env)
        if value is None:
            return raw[i:end], end, missing or [f"$(({expr}))"], True
        return str(value), end, [], True
    if nxt == "(":
        end = _balanced_end(raw, i + 1)
        return raw[i:end], end, [f"$({raw[i + 2:end - 1].strip()})"], True
    if nxt == "{":
        end = _balanced_end(raw, i + 1)
        return _braced_at(raw, i, end, env)
    if nxt.isdigit() or nxt in "@*#?!$-":
        return raw[i:i + 2], i + 2, [f"${nxt}"], True
    m = _NAME.match(raw, i + 1)
    if not m:
        return "$", i + 1, [], False
    name = m.group(0)
    if name in env:
        return env[name], m.end(), [], True
    return raw[i:m.end()], m.end(), [name], True


def _braced_at(raw: str, i: int, end: int, env: Mapping[str, str]) -> tuple[str, int, list[str], bool]:
    text, names = _braced(raw[i + 2:end - 1], env, raw[i:end])
    return text, end, names, True


def _braced(body: str, env: Mapping[str, str], whole: str) -> tuple[str, list[str]]:
    """`${body}`: NAME, NAME:-word, NAME-word, NAME:=word, NAME:+word, NAME+word, #NAME (length)."""
    m = _NAME.match(body)
    if body[:1].isdigit():
        return whole, [f"${body}"]
    if not m:
        return whole, [whole]
    name, rest = m.group(0), body[m.end():]
    have = name in env
    value = env.get(name, "")
    for op in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
        if rest.startswith(op):
            word = rest[len(op):]
            empty_counts = op.startswith(":")
            unset = not have or (empty_counts and value == "")
            if op.endswith(("-", "=")):
                if unset:
                    sub = expand(word, env)
                    return sub.value, list(sub.unresolved)
                return value, []
            if op.endswith("+"):
                if unset:
                    return "", []
                sub = expand(word, env)
                return sub.value, list(sub.unresolved)
            return (value, []) if not unset else (whole, [name])
    if rest:
        return (whole, [name]) if not have else (value, [])  # ${NAME%pattern} etc.: the value is not judged
    return (value, []) if have else (whole, [name])


_ARITH_TOKEN = re.compile(r"\s*(\d+|[A-Za-z_][A-Za-z0-9_]*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|[-+*/%()])")


def arithmetic(expr: str, env: Mapping[str, str]) -> tuple[int | None, list[str]]:
    """`$((…))` with integers, + - * / %, parentheses and variables; (None, missing names) when it cannot."""
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _ARITH_TOKEN.match(expr, pos)
        if not m:
            return None, []
        tokens.append(m.group(1))
        pos = m.end()
    missing: list[str] = []
    values: list[str] = []
    for t in tokens:
        name = t.strip("${}")
        if _NAME.fullmatch(name) and not t.isdigit():
            v = env.get(name, "").strip()
            if not v.lstrip("-").isdigit() or len(v) > 18:
                missing.append(name)
                continue
            values.append(v)
        else:
            values.append(t)
    if missing:
        return None, missing
    try:
        result, rest = _sum(values)
    except (ValueError, ZeroDivisionError, IndexError):
        return None, []
    return (result if not rest and abs(result) < 10 ** 18 else None), []


def _sum(t: list[str]) -> tuple[int, list[str]]:
    value, t = _product(t)
    while t and t[0] in "+-":
        op = t[0]
        rhs, t = _product(t[1:])
        value = value + rhs if op == "+" else value - rhs
    return value, t


def _product(t: list[str]) -> tuple[int, list[str]]:
    value, t = _atom(t)
    while t and t[0] in "*/%":
        op = t[0]
        rhs, t = _atom(t[1:])
        value = value * rhs if op == "*" else (int(value / rhs) if op == "/" else value % rhs)
        if abs(value) > 10 ** 18:
            raise ValueError("too large")
    return value, t


def _atom(t: list[str]) -> tuple[int, list[str]]:
    if t[0] == "(":
        value, rest = _sum(t[1:])
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced")
        return value, rest[1:]
    if t[0] == "-":
        value, rest = _atom(t[1:])
        return -value, rest
    return int(t[0]), t[1:]
