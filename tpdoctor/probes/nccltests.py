"""nccl-tests `*_perf` output (all_reduce_perf, reduce_perf, ...) -> NcclTestsRun, and -> BenchResult.

Reads the current table (size count type redop root, then time/algbw/busbw/#wrong for out-of-place
and in-place), the older one (no root, an `error` column), and hand-trimmed tables (size time algbw
busbw). The header lines name the columns, so rows are read by name, not by position. Log noise
(NCCL INFO lines, mpirun chatter, prompts) is skipped and noted; a row that does not fit the
columns is a ParseError naming the line. Runs that cannot mean what they seem (one rank, several
processes interleaved, absurd bandwidths) are flagged in `notes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import ParseError
from tpdoctor.probes.smi_text import clean_lines, is_elision

_DEVICE_RE = re.compile(
    r"^#?\s*Rank\s+(\d+)\s+(?:Group\s+(\d+)\s+)?Pid\s+(\d+)\s+on\s+(\S+)\s+device\s+(\d+)\s+"
    r"\[([^\]]*)\]\s*(.*)$",
    re.ASCII,
)
_PARAMS_RE = re.compile(r"nThread\s+(\d+)\s+nGpus\s+(\d+)\s+minBytes\s+(\d+)\s+maxBytes\s+(\d+)", re.ASCII)
_ITERS_RE = re.compile(r"(?<!warmup )(?<!agg )iters:\s*(\d+)", re.ASCII)
_VERSION_RE = re.compile(r"nccl-tests version\s+(\S+)", re.ASCII)
_STARTING_RE = re.compile(r"Collective test starting:\s*(\w+?)(?:_perf)?\s*$", re.ASCII)
_COMMAND_RE = re.compile(r"(\w+?)_perf\b(.*)$", re.ASCII)
_AVG_RE = re.compile(r"Avg bus bandwidth\s*:\s*(\S+)", re.ASCII)
_OOB_RE = re.compile(r"Out of bounds values\s*:\s*(.*?)\s*$", re.ASCII)
_SIZE_RE = re.compile(r"^\d+(_\d+)*$", re.ASCII)
_NUM_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$", re.ASCII)
_HEADER_WORDS = {"size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "error"}
_DTYPES = {
    "float": "float32",
    "half": "float16",
    "double": "float64",
    "bfloat16": "bfloat16",
    "int8": "int8",
    "uint8": "uint8",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "int": "int32",
}
IMPLAUSIBLE_GBPS = 10_000.0  # no link moves 10 TB/s; such figures come from a broken timer


@dataclass(frozen=True)
class Timing:
    time_us: float
    algbw_gbps: float
    busbw_gbps: float
    wrong: int | None = None  # the `#wrong` count; None when the column is absent or N/A
    error: float | None = None  # the old `error` column (max deviation); None when absent or N/A


@dataclass(frozen=True)
class Row:
    line: int
    size_bytes: int
    count: int | None
    dtype: str | None  # as printed: float, half, bfloat16 ...
    redop: str | None
    root: int | None
    out_of_place: Timing
    in_place: Timing | None


@dataclass(frozen=True)
class RankDevice:
    rank: int
    group: int | None
    pid: int
    host: str
    device: int
    bus_id: str
    name: str


@dataclass(frozen=True)
class NcclTestsRun:
    collective: str | None  # "all_reduce", "reduce", ...
    rows: tuple[Row, ...]
    devices: tuple[RankDevice, ...] = ()
    n_gpus_per_thread: int | None = None
    iterations: int | None = None
    version: str | None = None
    avg_busbw_gbps: float | None = None  # the last "# Avg bus bandwidth" figure
    avg_busbw_all: tuple[float, ...] = ()  # every such figure (interleaved processes print several)
    out_of_bounds: str | None = None
    columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def nranks(self) -> int | None:
        return len({d.rank for d in self.devices}) if self.devices else None

    @property
    def processes(self) -> int:
        return len({(d.host, d.pid) for d in self.devices})


def parse_nccl_tests(text: str, source: str = "<nccl-tests>") -> NcclTestsRun:
    """Parse one nccl-tests `*_perf` output."""
    notes: list[str] = []
    columns: list[str] | None = None
    rows: list[Row] = []
    devices: list[RankDevice] = []
    collective = version = oob = None
    n_gpus = iters = None
    avgs: list[float] = []
    for ln in clean_lines(text):
        s = ln.text.strip()
        body = s.lstrip("#").strip()
        if not body or s.startswith("```") or is_elision(s):
            continue
        if m := _DEVICE_RE.match(s):
            devices.append(_device(m))
        elif m := _PARAMS_RE.search(body):
            n_gpus = int(m.group(2))
            it = _ITERS_RE.search(body)
            iters = int(it.group(1)) if it else iters
        elif m := _VERSION_RE.search(body):
            version = m.group(1)
        elif m := _STARTING_RE.search(body):
            collective = m.group(1)
        elif m := _AVG_RE.search(body):
            if not _NUM_RE.match(m.group(1)):
                raise ParseError(
                    f"expected a number after 'Avg bus bandwidth', got {m.group(1)!r}",
                    source=source,
                    line=ln.number,
                )
            avgs.append(float(m.group(1)))
        elif m := _OOB_RE.search(body):
            oob = m.group(1)
        elif _is_header(body):
            cols = body.split()
            if columns is not None and cols != columns:
                raise ParseError("column header differs from the earlier one", source=source, line=ln.number)
            columns = cols
        elif body.startswith("(B)") or body == "Using devices" or body.startswith("out-of-place"):
            continue
        elif " NCCL INFO " in s or " NCCL WARN " in s:
            notes.append(f"line {ln.number}: NCCL log line skipped")
        elif _SIZE_RE.match(s.split()[0]):
            if columns is None:
                columns = _guess_columns(len(s.split()), source, ln.number)
                notes.append(f"line {ln.number}: no column header; columns assumed: {' '.join(columns)}")
            rows.append(_row(columns, s.split(), ln.number, source))
        elif (m := _COMMAND_RE.search(s)) and collective is None and not s.startswith("#"):
            collective = m.group(1).split("/")[-1]
            if n_gpus is None and (g := re.search(r"-g\s*(\d+)", m.group(2))):
                n_gpus = int(g.group(1))
            if iters is None and (it := re.search(r"-n\s*(\d+)", m.group(2))):
                iters = int(it.group(1))
        elif not s.startswith("#"):
            notes.append(f"line {ln.number}: not nccl-tests output, skipped: {s[:60]!r}")
    if not rows:
        raise ParseError(
            "expected nccl-tests output: no result rows (size count type ... busbw) found",
            source=source,
            line=None,
        )
    run = NcclTestsRun(collective, tuple(rows), tuple(devices), n_gpus, iters, version, avgs[-1] if avgs else None,
                       tuple(avgs), oob, tuple(columns or ()))
    return _flag(run, notes)


def _device(m: re.Match[str]) -> RankDevice:
    """One `#  Rank  0 Group  0 Pid 123 on host device  0 [0x18] NVIDIA H100` line."""
    return RankDevice(int(m.group(1)), int(m.group(2)) if m.group(2) else None, int(m.group(3)), m.group(4),
                      int(m.group(5)), m.group(6), m.group(7).strip())


def _is_header(body: str) -> bool:
    words = body.split()
    return len(words) >= 4 and words[0] == "size" and "busbw" in words and set(words) <= _HEADER_WORDS


def _guess_columns(n: int, source: str, line: int) -> list[str]:
    known = {
        13: "size count type redop root time algbw busbw #wrong time algbw busbw #wrong",
        12: "size count type redop time algbw busbw error time algbw busbw error",
        4: "size time algbw busbw",
    }
    if n not in known:
        raise ParseError(
            f"result row with {n} fields and no column header to read it by", source=source, line=line
        )
    return known[n].split()


def _row(columns: list[str], toks: list[str], line: int, source: str) -> Row:
    if len(toks) != len(columns):
        raise ParseError(
            f"expected {len(columns)} fields ({' '.join(columns)}), got {len(toks)}", source=source, line=line
        )
    halves: list[dict[str, str]] = [{}, {}]
    head: dict[str, str] = {}
    for name, tok in zip(columns, toks):
        if name in ("time", "algbw", "busbw", "#wrong", "error"):
            half = halves[0] if name not in halves[0] else halves[1]
            half[name] = tok
        else:
            head[name] = tok

    def num(tok: str, what: str) -> float:
        if not _NUM_RE.match(tok):
            raise ParseError(f"{what}: expected a number, got {tok!r}", source=source, line=line)
        return float(tok)

    def integer(tok: str | None, what: str) -> int | None:
        if tok is None:
            return None
        if not re.fullmatch(r"-?[0-9]+(_[0-9]+)*", tok):
            raise ParseError(f"{what}: expected an integer, got {tok!r}", source=source, line=line)
        return int(tok)

    def timing(h: dict[str, str]) -> Timing | None:
        if not h:
            return None
        missing = [k for k in ("time", "algbw", "busbw") if k not in h]
        if missing:
            raise ParseError(f"columns {missing} missing from the header", source=source, line=line)
        wrong = h.get("#wrong")
        err = h.get("error")
        return Timing(
            num(h["time"], "time"),
            num(h["algbw"], "algbw"),
            num(h["busbw"], "busbw"),
            None if wrong in (None, "N/A") else integer(wrong, "#wrong"),
            None if err in (None, "N/A") else num(err, "error"),
        )

    out = timing(halves[0])
    assert out is not None  # the header check guarantees time/algbw/busbw
    size = integer(head["size"], "size")
    assert size is not None
    return Row(
        line,
        size,
        integer(head.get("count"), "count"),
        head.get("type"),
        head.get("redop"),
        integer(head.get("root"), "root"),
        out,
        timing(halves[1]),
    )


def _flag(run: NcclTestsRun, notes: list[str]) -> NcclTestsRun:
    if run.devices and run.processes > 1 and run.nranks is not None and run.nranks < len(run.devices):
        notes.append(
            f"{len(run.devices)} device lines but only {run.nranks} distinct rank(s) from "
            f"{run.processes} processes: independent runs interleaved, not one {len(run.devices)}-GPU run"
        )
    if run.nranks == 1:
        notes.append("single rank: busbw is 0 or meaningless, nothing crossed a link")
    absurd = [
        r.line
        for r in run.rows
        for t in (r.out_of_place, r.in_place)
        if t is not None and max(t.algbw_gbps, t.busbw_gbps) > IMPLAUSIBLE_GBPS
    ]
    if absurd:
        notes.append(
            f"{len(absurd)} figure(s) above {IMPLAUSIBLE_GBPS:g} GB/s "
            f"(lines {', '.join(map(str, absurd[:5]))}"
            f"{', ...' if len(absurd) > 5 else ''}): broken timing, do not trust them"
        )
    if len(run.avg_busbw_all) > 1:
        notes.append(f"{len(run.avg_busbw_all)} 'Avg bus bandwidth' lines: several runs in one text")
    return NcclTestsRun(**{**run.__dict__, "notes": tuple(notes)})


def to_bench_results(
    run: NcclTestsRun, *, backend: str = "nccl", in_place: bool = False, label: str | None = None
) -> tuple[BenchResult, ...]:
    """One BenchResult per row. `group` is the GPU (device) indices when every rank sits on one host
    with its own device, else the rank numbers; without device lines, 0..nGpus-1 if known."""
    hosts = {d.host for d in run.devices}
    devs = [d.device for d in sorted(run.devices, key=lambda d: d.rank)]
    if run.devices and len(hosts) == 1 and len(set(devs)) == len(devs):
        group = tuple(devs)
    elif run.devices:
        group = tuple(sorted({d.rank for d in run.devices}))
    else:
        group = tuple(range(run.n_gpus_per_thread or 0))
    out = []
    for r in run.rows:
        t = r.in_place if in_place else r.out_of_place
        if t is None:
            continue
        out.append(
            BenchResult(
                group=group,
                backend=backend,
                bytes=r.size_bytes,
                time_us=t.time_us,
                algbw_gbps=t.algbw_gbps,
                busbw_gbps=t.busbw_gbps,
                correct=t.wrong in (None, 0),
                iterations=run.iterations or 0,
                dtype=_DTYPES.get(r.dtype or "float", r.dtype or ""),
                label=label
                or f"nccl-tests {run.collective or '?'} {'in-place' if in_place else 'out-of-place'}",
            )
        )
    return tuple(out)
