"""`nvidia-smi topo -p2p r|w|n|a|p` text -> P2PMatrix (status code per ordered GPU pair)."""

from __future__ import annotations

import re

from tpdoctor.probes.smi_text import KIND_P2P, Section, fail, is_elision, pick_sections
from tpdoctor.probes.smi_types import P2PMatrix

_GPU_RE = re.compile(r"^GPU(\d+)$", re.ASCII)
CODES = frozenset({"OK", "CNS", "GNS", "TNS", "NS", "DR", "U"})
CAPABILITIES = {"r": "read", "w": "write", "n": "nvlink", "a": "atomics", "p": "pci", "rw": "read_write"}


def parse_topo_p2p(text: str, source: str = "<topo -p2p>", *, capability: str | None = None) -> P2PMatrix:
    """The first P2P matrix in the text (or the one whose command echo names `capability`).

    `capability` is a letter as given to nvidia-smi (r, w, n, a, p) or its name ("read"); without a
    command echo in the text it is also what the matrix is labelled with ("unknown" if not given).
    """
    matrices = parse_topo_p2p_all(text, source, capability=capability)
    if capability is not None:
        name = CAPABILITIES.get(capability, capability)
        for m in matrices:
            if m.capability == name:
                return m
    return matrices[0]


def parse_topo_p2p_all(
    text: str, source: str = "<topo -p2p>", *, capability: str | None = None
) -> tuple[P2PMatrix, ...]:
    """Every P2P matrix in the text, e.g. a script's dump of `-p2p r` then `-p2p w`."""
    default = CAPABILITIES.get(capability or "", capability or "unknown")
    out = []
    for section in pick_sections(text, KIND_P2P, source, "`nvidia-smi topo -p2p` output"):
        cap = CAPABILITIES.get(section.arg, "unknown") if section.kind == KIND_P2P else default
        out.append(_parse_section(section, cap, source))
    return tuple(out)


def _parse_section(section: Section, capability: str, source: str) -> P2PMatrix:
    lines = list(section.lines)
    start = None
    for k, ln in enumerate(lines):
        toks = ln.text.split()
        if toks and all(_GPU_RE.match(t) for t in toks):
            start = k
            break
        if "CPU" in toks and "Affinity" in toks:
            raise fail(
                source, ln.number, 'expected a `topo -p2p` header ("GPU0 GPU1 ..."), found a `topo -m` header'
            )
    if start is None:
        first = next((ln for ln in lines if ln.text.strip()), None)
        raise fail(
            source,
            first.number if first else section.echo_line,
            'expected a `topo -p2p` header ("GPU0 GPU1 ..."), found none',
        )
    labels = lines[start].text.split()
    gpus = tuple(int(t[3:]) for t in labels)
    if len(set(gpus)) != len(gpus):
        raise fail(source, lines[start].number, "a GPU is named twice in the header")
    cells: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    for ln in lines[start + 1 :]:
        s = ln.text.strip()
        if not s:
            if seen:
                break
            continue
        if is_elision(s):
            continue
        toks = s.split()
        if not _GPU_RE.match(toks[0]):
            break
        row = toks[0]
        if row not in labels or row in seen:
            raise fail(source, ln.number, f"row {row} is not a header column or appears twice")
        seen.add(row)
        if len(toks) - 1 != len(labels):
            raise fail(
                source, ln.number, f"row {row} has {len(toks) - 1} cells, the header names {len(labels)}"
            )
        i = int(row[3:])
        for col, code in zip(labels, toks[1:]):
            j = int(col[3:])
            if (code == "X") != (i == j):
                raise fail(source, ln.number, f"row {row}, column {col}: 'X' belongs on the diagonal only")
            if i == j:
                continue
            if code not in CODES:
                raise fail(
                    source,
                    ln.number,
                    f"row {row}, column {col}: expected a P2P status "
                    f"({', '.join(sorted(CODES))}), got {code!r}",
                )
            cells[(i, j)] = code
    if not seen:
        raise fail(source, lines[start].number, "P2P header without any GPU row")
    return P2PMatrix(capability=capability, gpus=gpus, cells=cells)
