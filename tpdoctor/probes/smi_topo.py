"""`nvidia-smi topo -m` text -> TopoMatrix.

Cells are read by whitespace tokens (tab- or space-aligned, mangled pastes all tokenise the same);
character positions are used only to place the few cells a row leaves blank. Every row is checked:
the `X` sits on the diagonal, every other cell is a path in the `topo -m` vocabulary, the GPU–GPU
part is symmetric. What cannot be made consistent raises ParseError; what could be recovered
(header-less text, a fused cell, a cut-off row) is recovered and written into `notes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpdoctor.model.errors import ParseError
from tpdoctor.model.topology import normalize_path
from tpdoctor.probes.smi_text import KIND_TOPO_M, Line, fail, is_elision, pick_sections
from tpdoctor.probes.smi_types import TopoMatrix

_TOK_RE = re.compile(r"\S+", re.ASCII)
_PATH_TOKEN_RE = re.compile(r"^(X|NV\d+|PIX|PXB|PHB|NODE|SYS|SOC|PSB|NET)$", re.ASCII)
_GPU_RE = re.compile(r"^GPU(\d+)$", re.ASCII)
_NIC_RE = re.compile(r"^NIC(\d+)$", re.ASCII)
_DEV_RE = re.compile(r"^[a-z][a-z0-9_]*\d$", re.ASCII)  # NIC named by device in old drivers: mlx5_0, mlx4_0
_AFF_VALUE_RE = re.compile(r"^(N/A|\d+(-\d+)?(,\d+(-\d+)?)*)$", re.ASCII)
_FUSED_RE = re.compile(r"^([A-Z]{1,3})(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)$", re.ASCII)
_NIC_LEGEND_RE = re.compile(r"^\s*NIC(\d+)\s*:\s*(\S+)\s*$", re.ASCII)
_P2P_CODES = {"OK", "CNS", "GNS", "TNS", "NS", "DR", "U"}
_AFF_PHRASES = (
    ("cpu", ("CPU", "Affinity")),
    ("numa", ("NUMA", "Affinity")),
    ("gpu_numa", ("GPU", "NUMA", "ID")),
)
_PCIE_PATHS = ("PIX", "PXB", "PHB", "NODE", "SYS")


@dataclass
class _Header:
    labels: list[str]  # canonical: GPU3 / NIC0
    label_pos: list[int] | None  # character column of each label (tabs expanded), None if inferred
    aff: list[str]  # "cpu" | "numa" | "gpu_numa" in printed order
    aff_pos: list[int] | None
    nic_names: dict[int, str]
    line: int | None


def _tokens(text: str) -> list[tuple[str, int]]:
    return [(m.group(0), m.start()) for m in _TOK_RE.finditer(text.expandtabs(8))]


def _parse_header(text: str) -> _Header | None:
    """A header names GPU columns first, then NIC columns, then the affinity columns."""
    toks = _tokens(text)
    if not toks or not _GPU_RE.match(toks[0][0]):
        return None
    labels: list[str] = []
    pos: list[int] = []
    names: dict[int, str] = {}
    i = 0
    while i < len(toks):
        t, p = toks[i]
        n_gpu = sum(lb.startswith("GPU") for lb in labels)
        if (_GPU_RE.match(t) and n_gpu == len(labels)) or (_NIC_RE.match(t) and not names):
            labels.append(t)
        elif _DEV_RE.match(t) and len(names) == len(labels) - n_gpu:
            names[len(names)] = t
            labels.append(f"NIC{len(names) - 1}")
        else:
            break
        pos.append(p)
        i += 1
    aff: list[str] = []
    aff_pos: list[int] = []
    for key, words in _AFF_PHRASES:
        if tuple(t for t, _ in toks[i : i + len(words)]) == words:
            aff.append(key)
            aff_pos.append(toks[i][1])
            i += len(words)
    if i != len(toks):
        return None
    return _Header(labels, pos, aff, aff_pos, names, None)


def _row_like(text: str) -> bool:
    toks = _tokens(text)
    return (
        len(toks) >= 2
        and bool(_GPU_RE.match(toks[0][0]) or _NIC_RE.match(toks[0][0]) or _DEV_RE.match(toks[0][0]))
        and bool(_PATH_TOKEN_RE.match(toks[1][0]))
    )


def parse_topo_m(text: str, source: str = "<topo -m>", *, gpu_count: int | None = None) -> TopoMatrix:
    """Parse `nvidia-smi topo -m` output (any driver generation, with or without a header).

    `gpu_count` only matters for header-less text, where columns are otherwise inferred (from the
    NIC rows' diagonal, else from the NVLink cells and the GPU rows present) and noted.
    """
    sections = pick_sections(text, KIND_TOPO_M, source, "`nvidia-smi topo -m` output")
    lines = list(sections[0].lines)
    start = next((k for k, ln in enumerate(lines) if _parse_header(ln.text) or _row_like(ln.text)), None)
    if start is None:
        raise _explain_missing(lines, source)
    notes = [f"{len(sections)} `topo -m` outputs in the text; the first was read"] if len(sections) > 1 else []
    header = _parse_header(lines[start].text)
    if header is not None:
        header, body = _wrapped_header(header, lines, start, notes)
    else:
        body = lines[start:]
    rows, trailer = _collect_rows(body, header, source, notes)
    if not rows:
        raise fail(source, lines[start].number, "matrix header without any GPU row")
    if header is None:
        header = _infer_header(rows, gpu_count, source, notes)
    return _build(header, rows, trailer, source, notes)


def _wrapped_header(header: _Header, lines: list[Line], start: int, notes: list[str]) -> tuple[_Header, list[Line]]:
    """A header hard-wrapped over several lines ("... NIC0" / "NIC1 ... CPU" / "Affinity ..."): join the pieces."""
    header.line = lines[start].number
    words = {"CPU", "Affinity", "NUMA", "GPU", "ID"}
    best, end = start, start + 1
    while end < len(lines) and lines[end].text.strip() and not _row_like(lines[end].text):
        toks = [t for t, _ in _tokens(lines[end].text)]
        if not all(t in words or _GPU_RE.match(t) or _NIC_RE.match(t) or _DEV_RE.match(t) for t in toks):
            break
        joined = _parse_header("\t".join(ln.text.strip() for ln in lines[start : end + 1]))
        if joined is not None:
            header, best = joined, end
            header.line, header.label_pos, header.aff_pos = lines[start].number, None, None
        end += 1
    if best > start:
        notes.append(f"lines {lines[start].number}-{lines[best].number}: header wrapped over several lines; joined")
    return header, lines[best + 1 :]


def _explain_missing(lines: list[Line], source: str) -> ParseError:
    for ln in lines:
        toks = [t for t, _ in _tokens(ln.text)]
        if len(toks) >= 2 and _GPU_RE.match(toks[0]) and toks[1] in _P2P_CODES:
            return fail(source, ln.number, "expected a `topo -m` matrix, found a `topo -p2p` matrix row")
        if re.match(r"^\s*GPU \d+:", ln.text):
            return fail(source, ln.number, "expected a `topo -m` matrix, found `nvidia-smi nvlink` output")
    first = next((ln for ln in lines if ln.text.strip()), lines[0] if lines else Line(1, ""))
    return fail(
        source,
        first.number,
        'expected a `topo -m` header ("GPU0 GPU1 ... CPU Affinity") or '
        f'matrix row ("GPU0 X NV12 ..."), found none; first line: {first.text.strip()[:60]!r}',
    )


def _collect_rows(
    body: list[Line], header: _Header | None, source: str, notes: list[str]
) -> tuple[list[tuple[Line, list[tuple[str, int]]]], list[Line]]:
    """Matrix rows until the matrix ends (Legend, prose); blank lines between GPU and NIC rows are fine."""
    known = set(header.labels) | set((header.nic_names or {}).values()) if header else None
    rows: list[tuple[Line, list[tuple[str, int]]]] = []
    prev_row = False
    for k, ln in enumerate(body):
        s = ln.text.strip()
        cont = _tokens(ln.text)
        if prev_row and cont and all(_PATH_TOKEN_RE.match(t) or _AFF_VALUE_RE.match(t) for t, _ in cont):
            last_ln, last = rows[-1]
            end = last[-1][1] + len(last[-1][0]) + 1
            rows[-1] = (last_ln, last + [(t, end + i) for i, (t, _) in enumerate(cont)])
            notes.append(f"line {ln.number}: continues row {last[0][0]} (wrapped)")
            continue
        prev_row = False
        if not s:
            continue
        if is_elision(s):
            notes.append(f"line {ln.number}: elision {s!r} skipped")
            continue
        toks = _tokens(ln.text)
        first = toks[0][0]
        is_label = bool(_GPU_RE.match(first) or _NIC_RE.match(first) or _DEV_RE.match(first))
        if known is not None and is_label and first not in known:
            raise fail(source, ln.number, f"row label {first!r} is not a column of the header")
        if is_label and (known is not None or _row_like(ln.text)):
            rows.append((ln, toks))
            prev_row = True
            continue
        return rows, body[k:]
    return rows, []


def _infer_header(
    rows: list[tuple[Line, list[tuple[str, int]]]], gpu_count: int | None, source: str, notes: list[str]
) -> _Header:
    widths = [_lead_paths(toks) for _, toks in rows]
    n = max(widths)
    g = gpu_count
    how = "given"
    if g is None:
        for (_, toks), w in zip(rows, widths):
            m = _NIC_RE.match(toks[0][0])
            cells = [t for t, _ in toks[1 : 1 + w]]
            if m and "X" in cells and w == n:
                g, how = cells.index("X") - int(m.group(1)), "from a NIC row's diagonal"
                break
    if g is None:
        gpu_rows = [int(m.group(1)) for _, toks in rows if (m := _GPU_RE.match(toks[0][0]))]
        nv_cols = [j for _, toks in rows for j, (t, _) in enumerate(toks[1 : 1 + n]) if t.startswith("NV")]
        g = max([i + 1 for i in gpu_rows] + [j + 1 for j in nv_cols] + [1])
        how = "from the GPU rows present and the NVLink cells"
    if not 1 <= g <= n:
        raise fail(source, rows[0][0].number, f"cannot infer the columns of a header-less matrix ({n} cells)")
    labels = [f"GPU{i}" for i in range(g)] + [f"NIC{i}" for i in range(n - g)]
    devs = [t[0][0] for _, t in rows if _DEV_RE.match(t[0][0]) and not _GPU_RE.match(t[0][0])]
    names = dict(enumerate(dict.fromkeys(devs)))
    if len(names) > n - g:
        raise fail(source, rows[0][0].number, "header-less matrix names more NIC rows than it has NIC columns")
    notes.append(
        f"no header line: assumed columns GPU0-GPU{g - 1}"
        + (f", NIC0-NIC{n - g - 1}" if n > g else "")
        + f" ({how}) and affinity columns CPU, NUMA, GPU NUMA ID in that order"
    )
    return _Header(labels, None, ["cpu", "numa", "gpu_numa"], None, names, None)


def _lead_paths(toks: list[tuple[str, int]]) -> int:
    n = 0
    for t, _ in toks[1:]:
        if not _PATH_TOKEN_RE.match(t):
            break
        n += 1
    return n


def _build(
    h: _Header,
    rows: list[tuple[Line, list[tuple[str, int]]]],
    trailer: list[Line],
    source: str,
    notes: list[str],
) -> TopoMatrix:
    name_to_label = {name: f"NIC{i}" for i, name in h.nic_names.items()}
    cells: dict[tuple[str, str], str] = {}
    seen: dict[str, int] = {}
    cpu: dict[int, str] = {}
    numa: dict[int, int] = {}
    numa_text: dict[int, str] = {}
    gpu_numa: dict[int, int] = {}
    for ln, toks in rows:
        label = name_to_label.get(toks[0][0], toks[0][0])
        if label in seen:
            raise fail(source, ln.number, f"row {label} appears twice (first on line {seen[label]})")
        seen[label] = ln.number
        row_cells, aff = _row_cells(h, label, ln, toks, source, notes)
        for col, path in row_cells.items():
            cells[(label, col)] = path
        m = _GPU_RE.match(label)
        if m and aff:
            gi = int(m.group(1))
            for key, value in aff.items():
                if value == "N/A":
                    continue
                if key == "cpu":
                    cpu[gi] = value
                elif key == "numa":
                    numa_text[gi] = value
                    if value.isdigit():
                        numa[gi] = int(value)
                elif value.isdigit():
                    gpu_numa[gi] = int(value)
                else:
                    raise fail(source, ln.number, f"expected a GPU NUMA ID (integer or N/A), got {value!r}")
    for (a, b), path in cells.items():
        back = cells.get((b, a))
        if back is not None and back != path:
            raise fail(
                source,
                seen[b] if seen[b] > seen[a] else seen[a],
                f"matrix not symmetric: {a}->{b} reads {path} but {b}->{a} reads {back}",
            )
    nic_names = dict(h.nic_names)
    for ln in trailer:
        m = _NIC_LEGEND_RE.match(ln.text)
        if m:
            nic_names[int(m.group(1))] = m.group(2)
        elif (toks := _tokens(ln.text)) and toks[0][0] in set(h.labels) and _lead_paths(toks) > 0:
            raise fail(source, ln.number, f"matrix row {toks[0][0]} after the end of the matrix")
    gpus = tuple(int(lb[3:]) for lb in h.labels if lb.startswith("GPU"))
    nics = tuple(int(lb[3:]) for lb in h.labels if lb.startswith("NIC"))
    return TopoMatrix(
        gpus=gpus,
        nics=nics,
        cells=cells,
        cpu_affinity=cpu,
        numa_affinity=numa,
        gpu_numa_id=gpu_numa,
        nic_names=nic_names,
        header_present=h.line is not None,
        notes=tuple(notes),
        numa_affinity_text=numa_text,
        rows_present=tuple(name_to_label.get(t[0][0], t[0][0]) for _, t in rows),
    )


def _row_cells(
    h: _Header, label: str, ln: Line, toks: list[tuple[str, int]], source: str, notes: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    n = len(h.labels)
    if label not in h.labels:
        raise fail(source, ln.number, f"row {label} is not a column of the matrix ({', '.join(h.labels)})")
    d = h.labels.index(label)
    paths = toks[1 : 1 + _lead_paths(toks)][:n]
    rest = toks[1 + len(paths) :]
    if len(paths) == n - 1 and rest and "cpu" in h.aff and (m := _FUSED_RE.match(rest[0][0])):
        done = [p for p in _PCIE_PATHS if p.startswith(m.group(1)) and p != m.group(1)]
        col = h.labels[n - 1]
        paths = [*paths, (done[0] if len(done) == 1 else "?", rest[0][1])]
        notes.append(
            f"line {ln.number}: cell {rest[0][0]!r} is column {col} fused with CPU Affinity; read as "
            + (f"{col}={done[0]} (clipped) and " if len(done) == 1 else f"{col} unknown and ")
            + f"CPU Affinity {m.group(2)}"
        )
        rest = [(m.group(2), rest[0][1]), *rest[1:]]
    for t, _ in rest:
        if len(paths) == n and _PATH_TOKEN_RE.match(t):
            raise fail(source, ln.number, f"row {label} has more cells than the header has columns ({n})")
        if not _AFF_VALUE_RE.match(t):
            col = h.labels[len(paths)] if len(paths) < n else "after the matrix"
            raise fail(
                source,
                ln.number,
                f"expected a topology path (NV#, PIX, PXB, PHB, NODE, SYS) in "
                f"column {col} of row {label}, got {t!r}"
                + (" (this looks like `topo -p2p` output)" if t in _P2P_CODES else ""),
            )
    tokens = [t for t, _ in paths]
    cols = list(range(len(tokens)))
    if "X" in tokens:
        k = tokens.index("X")
        if k != d:
            skipped = h.labels[k:d]
            if k > d or not skipped or any(s.startswith("GPU") for s in skipped) or not label.startswith("NIC"):
                raise fail(
                    source,
                    ln.number,
                    f"row {label}: 'X' is in column {h.labels[k]}, expected it on the "
                    f"diagonal ({label}); cells do not line up with the header",
                )
            cols = list(range(k)) + [d + i for i in range(len(tokens) - k)]
    elif len(tokens) > d:
        raise fail(source, ln.number, f"row {label}: no 'X' on the diagonal (column {label})")
    if cols and cols[-1] >= n:
        raise fail(source, ln.number, f"row {label} has more cells than the header has columns")
    nic_tail = label.startswith("NIC") and "X" in tokens and all(lb.startswith("NIC") for lb in h.labels[d:])
    if len(tokens) < n and (not cols or cols[-1] < n - 1) and not nic_tail:
        if rest:
            raise fail(source, ln.number, f"row {label} has {len(tokens)} path cells where the header names {n}")
        notes.append(f"line {ln.number}: row {label} is cut short after {len(tokens)} of {n} cells")
    out: dict[str, str] = {}
    for j, t in zip(cols, tokens):
        if j == d or t == "?":
            continue
        if t == "X":
            raise fail(source, ln.number, f"row {label}: second 'X' in column {h.labels[j]}")
        try:
            out[h.labels[j]] = normalize_path(t)
        except ValueError as e:
            raise fail(source, ln.number, f"row {label}, column {h.labels[j]}: {e}") from None
    return out, _affinity(h, label, ln, rest, source, notes)


def _affinity(
    h: _Header, label: str, ln: Line, rest: list[tuple[str, int]], source: str, notes: list[str]
) -> dict[str, str]:
    if not rest or not label.startswith("GPU"):
        return {}
    if len(rest) > len(h.aff):
        raise fail(source, ln.number, f"row {label} has {len(rest)} affinity cells, the header names {len(h.aff)}")
    if len(rest) == len(h.aff) or h.aff_pos is None:
        return {key: t for key, (t, _) in zip(h.aff, rest)}
    placed: dict[str, str] = {}
    for t, p in rest:
        key = min(zip(h.aff, h.aff_pos), key=lambda kp: abs(kp[1] - p))[0]
        if key in placed:
            notes.append(f"line {ln.number}: affinity cells of {label} could not be aligned; read in order")
            return {key: t for key, (t, _) in zip(h.aff, rest)}
        placed[key] = t
    return placed
