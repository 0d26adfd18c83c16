"""`nvidia-smi --query-gpu=... --format=csv` text -> QueryGpuRow per GPU (and MigRow for the MIG query).

Reads the field list of `probes/smi.py` with or without the header row (`noheader`) and units
(`nounits`); `[N/A]`, `N/A` and `[Not Supported]` become None. Columns are taken by header name
when there is a header, so a reordered query still lands in the right fields. A cell in which nvidia-smi
reports a failure instead of a value (`[GPU is lost]`, `[Unknown Error]`, `[GPU requires reset]`) marks the
row's GPU (`QueryGpuRow.problem`): the row is evidence about that GPU, never a reason to reject the CSV.
"""

from __future__ import annotations

import csv
import re

from tpdoctor.probes.smi_text import KIND_QUERY_GPU, fail, is_bare_prompt, pick_sections
from tpdoctor.probes.smi_types import MigRow, QueryGpuRow

FIELDS = (
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "memory.total",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
)
QUERY = ",".join(FIELDS)
_NA = {"[n/a]", "n/a", "[not supported]", "not supported", ""}
# cells in which nvidia-smi reports a failure of the GPU instead of a value -> the GPU's probe status
PROBLEMS = {"[gpu is lost]": "lost", "[unknown error]": "error", "[gpu requires reset]": "error",
            "[insufficient permissions]": "error"}
_INT_UNIT_RE = re.compile(r"^(\d+)(?:\s*(MiB|x))?$", re.IGNORECASE | re.ASCII)
_HEADER_NAME_RE = re.compile(r"^([a-z_.]+)(?:\s*\[[^\]]*\])?$", re.ASCII)


def parse_query_gpu(csv_text: str, source: str = "<query-gpu>") -> tuple[QueryGpuRow, ...]:
    """Parse the CSV that `nvidia-smi --query-gpu=<FIELDS> --format=csv[,noheader][,nounits]` prints."""
    lines = [
        ln
        for s in pick_sections(csv_text, KIND_QUERY_GPU, source, "`nvidia-smi --query-gpu` CSV")
        for ln in s.lines
        if ln.text.strip() and not is_bare_prompt(ln.text)
    ]
    if not lines:
        raise fail(source, None, "expected `nvidia-smi --query-gpu` CSV, found no rows")
    columns = list(FIELDS)
    first = [c.strip() for c in next(csv.reader([lines[0].text], skipinitialspace=True))]
    if first and first[0].lower().startswith("index"):
        names = []
        for c in first:
            m = _HEADER_NAME_RE.match(c.lower())
            if not m:
                raise fail(source, lines[0].number, f"header field {c!r} is not a --query-gpu field name")
            names.append(m.group(1))
        missing = [f for f in ("index", "name") if f not in names]
        if missing:
            raise fail(source, lines[0].number, f"header lacks {', '.join(missing)}")
        columns, lines = names, lines[1:]
    rows = []
    seen: set[int] = set()
    for ln in lines:
        cells = [c.strip() for c in next(csv.reader([ln.text], skipinitialspace=True))]
        if len(cells) != len(columns):
            raise fail(
                source,
                ln.number,
                f"expected {len(columns)} comma-separated fields ({', '.join(columns)}), got {len(cells)}",
            )
        v = dict(zip(columns, cells))  # the lengths were checked above (zip(strict=) is 3.10+)
        problem = next((c for c in cells if c.lower() in PROBLEMS), None)
        if problem is not None:
            v = {k: ("" if c.lower() in PROBLEMS else c) for k, c in v.items()}
        index = _int(v["index"], "index", ln.number, source)
        if index is None or index in seen:
            raise fail(source, ln.number, f"GPU index {v['index']!r} missing or repeated")
        seen.add(index)
        rows.append(
            QueryGpuRow(
                index=index,
                name=v["name"],
                uuid=_text(v.get("uuid")),
                pci_bus_id=_text(v.get("pci.bus_id")),
                memory_mib=_int(v.get("memory.total"), "memory.total", ln.number, source),
                pcie_gen_current=_int(
                    v.get("pcie.link.gen.current"), "pcie.link.gen.current", ln.number, source
                ),
                pcie_gen_max=_int(v.get("pcie.link.gen.max"), "pcie.link.gen.max", ln.number, source),
                pcie_width_current=_int(
                    v.get("pcie.link.width.current"), "pcie.link.width.current", ln.number, source
                ),
                pcie_width_max=_int(v.get("pcie.link.width.max"), "pcie.link.width.max", ln.number, source),
                problem=problem,
            )
        )
    if not rows:
        raise fail(source, None, "`--query-gpu` header without any GPU row")
    return tuple(rows)


def _text(value: str | None) -> str | None:
    return None if value is None or value.lower() in _NA else value


def _int(value: str | None, name: str, line: int, source: str) -> int | None:
    if value is None or value.lower() in _NA:
        return None
    m = _INT_UNIT_RE.match(value)
    if not m:
        raise fail(
            source, line, f"field {name}: expected an integer (units MiB allowed) or [N/A], got {value!r}"
        )
    return int(m.group(1))


MIG_FIELDS = ("index", "uuid", "mig.mode.current", "mig.mode.pending")
MIG_QUERY = ",".join(MIG_FIELDS)
_MODES = {"enabled": True, "disabled": False}


def parse_mig_csv(csv_text: str, source: str = "<query-gpu mig>") -> tuple[MigRow, ...]:
    """`nvidia-smi --query-gpu=index,uuid,mig.mode.current,mig.mode.pending --format=csv` (any of those columns,
    by header name; rows without `index` are in index order). `[N/A]`: a GPU without MIG (None)."""
    lines = [ln for s in pick_sections(csv_text, KIND_QUERY_GPU, source, "`nvidia-smi --query-gpu` CSV")
             for ln in s.lines if ln.text.strip() and not is_bare_prompt(ln.text)]
    if not lines:
        raise fail(source, None, "expected `nvidia-smi --query-gpu` CSV, found no rows")
    header = [c.strip().lower() for c in next(csv.reader([lines[0].text], skipinitialspace=True))]
    if "mig.mode.current" not in header:
        raise fail(source, lines[0].number, "expected a header naming mig.mode.current")
    rows = []
    for pos, ln in enumerate(lines[1:]):
        cells = [c.strip() for c in next(csv.reader([ln.text], skipinitialspace=True))]
        if len(cells) != len(header):
            raise fail(source, ln.number, f"expected {len(header)} comma-separated fields, got {len(cells)}")
        v = dict(zip(header, cells))  # lengths checked above
        index = _int(v["index"], "index", ln.number, source) if "index" in v else pos
        rows.append(MigRow(index if index is not None else pos, _text(v.get("uuid")),
                           _MODES.get(v["mig.mode.current"].lower()),
                           _MODES.get(v.get("mig.mode.pending", "").lower()),
                           has_index="index" in v))
    if not rows:
        raise fail(source, None, "MIG query header without any GPU row")
    return tuple(rows)
