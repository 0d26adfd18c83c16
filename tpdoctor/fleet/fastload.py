"""Read a node report for the fleet, fast: skip per-NVLink-port detail unparsed, share equal link tables.

A fleet merge reads thousands of `tpdoctor/v1` reports. Two things dominate the cost of
`report_json.loads(text, ports=False)`: parsing each GPU's per-port array (half the text of an 8-GPU
NVSwitch node) only to drop it, and converting the same `links` table again and again (every healthy
node of one model has byte-identical links). Here:

- each GPU's `"nvlinks": [...]` array is cut out of the text before `json.loads` when it is flat (no
  nested array, no backslash, balanced quotes: then its first `]` closes it); JSON strings cannot hold an
  unescaped `"nvlinks"` key, so a match is always a real key;
- the top-level `"links": [...]` array is parsed and converted once per distinct text and shared.

Every cut is replaced by a sentinel string and checked after parsing: the sentinels must sit exactly at
`gpus[i].nvlinks` and at the top-level `links`. Anything else (an unusual layout, deeper nesting, a key
of that name somewhere else) falls back to the plain reader, so the result is always the same
`Report` that `report_json.loads(text, ports=False)` gives.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tpdoctor.model import contract as report_json
from tpdoctor.model.codec import from_data
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Report
from tpdoctor.model.frozen import replace
from tpdoctor.model.topology import Link

_PORTS_KEY = '"nvlinks"'
_PORTS_REST = re.compile(r'\s*:\s*\[')  # `"nvlinks"\s*:\s*\[`, found with str.find first (a report is mostly ports)
_LINKS_KEY = '"links"'  # the top-level table: `"links"\s*:\s*\[` outside the port arrays
_PORTS_CUT = "\u0000tpdoctor-ports-skipped"
_LINKS_CUT = "\u0000tpdoctor-links-shared"
_CACHE_LIMIT = 256


class LinkTableCache:
    """Converted `links` tables by their exact JSON text (bounded; one per distinct node state)."""

    def __init__(self, limit: int = _CACHE_LIMIT) -> None:
        self.limit = limit
        self.tables: dict[str, tuple[Link, ...]] = {}
        self.checked: set[tuple[str, tuple[int, ...], tuple[int, ...]]] = set()  # (table, GPUs, NICs) validated
        self.hits = 0
        # the last table and the last checked key: the next report's are almost always equal, and comparing
        # two texts is cheaper than hashing a new one
        self.last: tuple[str, tuple[Link, ...]] | None = None
        self.last_checked: tuple[str, tuple[int, ...], tuple[int, ...]] | None = None

    def get(self, text: str) -> tuple[Link, ...]:
        if self.last is not None and text == self.last[0]:
            self.hits += 1
            return self.last[1]
        table = self.tables.get(text)
        if table is not None:
            self.hits += 1
            self.last = (text, table)
            return table
        table = tuple(from_data(tuple[Link, ...], report_json.parse_json(text, "$.links"), "$.links"))
        if len(self.tables) >= self.limit:
            self.tables.pop(next(iter(self.tables)))
        self.tables[text] = table
        self.last = (text, table)
        return table


def loads(text: str, source: str = "<json>", cache: LinkTableCache | None = None) -> Report:
    """The same Report as `report_json.loads(text, source=source, ports=False)`, faster on fleets."""
    fast = _fast(text, source, cache if cache is not None else LinkTableCache())
    return fast if fast is not None else report_json.loads(text, source=source, ports=False)


def _flat_array_end(text: str, open_at: int, stop: int | None = None) -> int | None:
    """Index just past the `]` closing the array whose `[` is at `open_at`, when that array is flat: no
    nested `[`, no backslash, an even number of quotes (so the `]` found is outside every string), and it
    closes before `stop`. None otherwise (the caller then parses that part normally)."""
    close = text.find("]", open_at, len(text) if stop is None else stop)
    if close < 0:
        return None
    if text.find("[", open_at + 1, close) >= 0 or text.find("\\", open_at + 1, close) >= 0 \
            or text.count('"', open_at + 1, close) % 2:
        return None
    return close + 1


def _fast(text: str, source: str, cache: LinkTableCache) -> Report | None:
    cuts = _port_cuts(text)
    if cuts is None:
        return None
    ports_cut = len(cuts)
    links = _links_cut(text, cuts)
    links_text = text[links[0]:links[1]] if links is not None else None
    if links is not None:
        cuts = sorted([*cuts, links])
    pieces: list[str] = []
    pos = 0
    ports_sentinel, links_sentinel = json.dumps(_PORTS_CUT), json.dumps(_LINKS_CUT)
    for start, end in cuts:
        pieces += [text[pos:start], links_sentinel if (start, end) == links else ports_sentinel]
        pos = end
    pieces.append(text[pos:])
    cut = "".join(pieces)
    try:
        data = json.loads(cut)
    except (ValueError, RecursionError):  # not JSON, too deep, a number too long
        return None  # let the plain reader report the error with its line
    if not isinstance(data, dict) or not _ports_where_expected(data, ports_cut):
        return None
    if links_text is not None:
        if data.get("links") != _LINKS_CUT:
            return None
        data["links"] = []
    report = report_json.report_from_data(data, source, ports=False, check=links_text is None)
    if links_text is None:
        return report
    try:
        table = cache.get(links_text)
    except ParseError as exc:
        raise ParseError(exc.reason, source=source) from None
    except (ValueError, TypeError) as exc:
        raise ParseError(str(exc), source=source) from None
    topology = report.topology
    key = (links_text, tuple(g.index for g in topology.gpus), tuple(n.index for n in topology.nics))
    if key != cache.last_checked and key not in cache.checked:  # a shared table is checked once per set of
        report_json.check_links(table, key[1], key[2], source,  # GPUs and NICs, not per report
                                probed=topology.source != report_json.UNPROBED)
        if len(cache.checked) >= cache.limit:
            cache.checked.clear()
        cache.checked.add(key)
    cache.last_checked = key
    report = replace(report, topology=replace(topology, links=table))
    report_json.validate(report, source, links_checked=True)
    return report


def _port_cuts(text: str) -> list[tuple[int, int]] | None:
    """Where each `"nvlinks": [...]` array is (`[` to `]` included), when every one of them is flat."""
    cuts: list[tuple[int, int]] = []
    at = text.find(_PORTS_KEY)
    while at >= 0:
        m = _PORTS_REST.match(text, at + len(_PORTS_KEY))
        if m is None:
            at = text.find(_PORTS_KEY, at + 1)
            continue
        end = _flat_array_end(text, m.end() - 1)
        if end is None:
            return None
        cuts.append((m.end() - 1, end))
        at = text.find(_PORTS_KEY, end)
    return cuts


def _links_cut(text: str, cuts: list[tuple[int, int]]) -> tuple[int, int] | None:
    """Where the first `"links": [...]` outside the port arrays is, when it is flat: searched in the text
    between the cuts, as it would be found in the text with them cut out (a cut's sentinel holds a
    backslash, so an array running into one is not flat there either)."""
    starts = [0, *(e for _, e in cuts)]
    ends = [*(s for s, _ in cuts), len(text)]
    for start, stop in zip(starts, ends):
        at = text.find(_LINKS_KEY, start, stop)
        while at >= 0:
            m = _PORTS_REST.match(text, at + len(_LINKS_KEY), stop)
            if m is not None:
                end = _flat_array_end(text, m.end() - 1, stop)
                return (m.end() - 1, end) if end is not None else None
            at = text.find(_LINKS_KEY, at + 1, stop)
    return None


def _ports_where_expected(data: dict[str, Any], count: int) -> bool:
    gpus = data.get("gpus")
    if not isinstance(gpus, list):
        return count == 0
    found = 0
    for g in gpus:
        if isinstance(g, dict) and g.get("nvlinks") == _PORTS_CUT:
            g["nvlinks"] = []
            found += 1
    return found == count
