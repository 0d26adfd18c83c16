"""A job file written as one flow mapping per line, read without composing a YAML node graph.

Job files that programs generate (a scheduler's export, tens of thousands of deployments) are written

    deployments:
      - {name: d0, engine: vllm, model: llama-3.1-8b, tp: 2, node: gpu-node-00000, gpus: [0, 1]}
      - {name: d1, ...}

Composing such a file with libyaml and converting its nodes costs more than everything else that reading
a deployment does. `documents` reads exactly this shape line by line: the `deployments:` key, then entries
of plain or quoted scalars (printable ASCII, no escapes) and one-level flow lists of them, full-line and
trailing comments, blank lines. Values are resolved with the same resolver and constructor as
`yamlsrc.load_documents`, so the result is the same `Document` (data, spans, lines) it gives. Anything else
(block style, anchors, nesting, a tab, a line break other than `\\n`, a value it would have to interpret)
returns None and the file is read by `load_documents`, which also gives every error.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tpdoctor.manifests import yamlsrc
from tpdoctor.manifests.yamlsrc import Document, Path_, Span
from tpdoctor.model.errors import ManifestError

_PLAIN = r"[A-Za-z0-9_./+][A-Za-z0-9_./+-]*"
_SCALAR = rf"""({_PLAIN})|"([ !#-\[\]-~]*)"|'([ -&(-~]*)'"""  # plain | "double" | 'single', no escapes
# key: value-or-[list], then `,` or `}`: groups key (1-3), value (4-6), list body (7), separator (8)
_PAIR = re.compile(rf"(?:{_SCALAR}): +(?:(?:{_SCALAR})|\[ *([^\[\]{{}}]*?) *\]) *([,}}]) *")
_ITEM = re.compile(rf"(?:{_SCALAR}) *(,)? *")
_START = re.compile(r"( *)-( +)\{ *")
_OTHER = re.compile(r" *(#[\t -~]*)?")  # a blank or comment-only line
_TAIL = re.compile(r" *( #[\t -~]*)?")  # after an entry's closing brace
_HEAD = "deployments:"


class _Cut(Exception):
    """Not this shape: read the file the general way."""


def documents(text: str, source: str) -> list[Document] | None:
    """The file's one document when it has exactly the shape above, else None (see the module docstring)."""
    if not text.endswith("\n") or "&" in text or "\r" in text or not text.isascii():
        return None
    yamlsrc.refuse_templates(text, source)
    lines = text.split("\n")
    try:
        return _read(lines)
    except _Cut:
        return None


def _read(lines: list[str]) -> list[Document]:
    head = next((n for n, line in enumerate(lines) if not _OTHER.fullmatch(line)), None)
    if head is None or lines[head] != _HEAD:
        raise _Cut
    spans: dict[Path_, Span] = {(): Span(head + 1, 0, None)}
    strings = yamlsrc.str_first_chars()
    entries: list[Any] = []
    indent: str | None = None
    for n in range(head + 1, len(lines)):
        line = lines[n]
        m = _START.match(line)
        if m is None:
            if _OTHER.fullmatch(line):
                continue
            raise _Cut
        if indent is None:
            indent = m.group(1)
            spans[(_HEAD[:-1],)] = Span(n + 1, len(indent), None)
        elif m.group(1) != indent:
            raise _Cut
        path = (_HEAD[:-1], len(entries))
        entries.append(_entry(line, m, n + 1, path, spans, strings))
    if not entries:
        raise _Cut
    return [Document(data={_HEAD[:-1]: entries}, index=0, spans=spans, lines=lines)]


def _entry(line: str, m: re.Match[str], lineno: int, path: Path_, spans: dict[Path_, Span],
           strings: frozenset[str]) -> dict[Any, Any]:
    """One `- {key: value, ...}` line: its mapping, with the span of every node recorded in `spans` (in the
    composer's order: the mapping, then each value and its items). A plain value starting with one of
    `strings` is a string."""
    brace = m.end(2)
    spans[path] = Span(lineno, brace, None)  # its end is known at the closing brace
    out: dict[Any, Any] = {}
    pos = m.end()
    while True:
        p = _PAIR.match(line, pos)
        if p is None:
            raise _Cut
        kp, kd, ks, vp, vd, vs, body, sep = p.groups()
        key = _KEYS.get(kp, _KEYS) if kp is not None else _KEYS
        if key is _KEYS:
            key = _key(kp, kd, ks, lineno, pos)
        where = (*path, key)
        if vp is not None:
            at, end = p.span(4)
            spans[where] = _span(Span, (lineno, at, end))
            if vp[0] in strings:
                out[key] = vp
            else:
                value = _VALUES.get(vp, _VALUES)
                out[key] = value if value is not _VALUES else _scalar(vp, None, None, lineno, at)
        elif body is None:
            at, end = p.span(5 if vd is not None else 6)
            spans[where] = _span(Span, (lineno, at - 1, end + 1))
            out[key] = vd if vd is not None else vs
        else:
            at = line.index("[", p.end(kp and 1 or kd is not None and 2 or 3))
            end = line.index("]", p.end(7)) + 1
            spans[where] = Span(lineno, at, end)
            out[key] = _items(line, p.start(7), p.end(7), lineno, where, spans)
        pos = p.end()
        if sep == "}":
            if not _TAIL.fullmatch(line, pos):
                raise _Cut
            spans[path] = Span(lineno, brace, line.rindex("}", 0, pos) + 1)
            return out


_span = tuple.__new__  # Span(line, col, end) without the named tuple's Python-level __new__
_KEYS: dict[str, Any] = {}  # plain key text -> the key


def _key(plain: str | None, double: str | None, single: str | None, lineno: int, col: int) -> Any:
    """A mapping key as `yamlsrc._key` makes it (a value that cannot be hashed becomes its text)."""
    key = _scalar(plain, double, single, lineno, col)
    try:
        hash(key)
    except TypeError:
        key = str(key)
    if plain is not None and len(_KEYS) < 10_000:
        _KEYS[plain] = key
    return key


def _items(line: str, pos: int, end: int, lineno: int, path: Path_, spans: dict[Path_, Span]) -> list[Any]:
    """The scalars of a flow list whose body (without its outer spaces) is line[pos:end]."""
    items: list[Any] = []
    while pos < end:
        m = _ITEM.match(line, pos, end)
        if m is None or (m.group(4) is not None and m.end() == end):  # not a scalar, or `[a, ]`
            raise _Cut
        vp, vd, vs = m.group(1, 2, 3)
        stop = m.end(1) if vp is not None else m.end(2 if vd is not None else 3) + 1
        spans[path + (len(items),)] = Span(lineno, pos, stop)
        items.append(_scalar(vp, vd, vs, lineno, pos))
        if m.group(4) is None and m.end() != end:
            raise _Cut
        pos = m.end()
    return items


_VALUES: dict[str, Any] = {}  # plain scalar text -> its value, when not the text itself (numbers, null, dates)


def _scalar(plain: str | None, double: str | None, single: str | None, lineno: int, col: int) -> Any:
    """A scalar's value: quoted ones are strings; a plain one as the composer resolves and constructs it."""
    if plain is None:
        return double if double is not None else single
    value = _VALUES.get(plain, _VALUES)
    if value is not _VALUES:
        return value
    tag = yamlsrc.resolve_plain(plain)
    if tag == yamlsrc.STR_TAG:
        return plain  # a name or a host: unique per line, not kept
    node = yaml.ScalarNode(tag, plain, yaml.Mark("", 0, lineno - 1, col, None, 0))
    try:
        value = yamlsrc.scalar(node)
    except (ManifestError, yaml.YAMLError, ValueError, OverflowError):
        raise _Cut from None
    if len(_VALUES) < 100_000:
        _VALUES[plain] = value
    return value
