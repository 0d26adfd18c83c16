"""The `tpdoctor/v1` JSON contract (docs/contract.md, schemas/): one flat object per report or snapshot.

Reading is strict, because a report is input from another machine or another person: the codec checks
every type, and `validate` checks what types cannot say: each number in its range (finite, not negative,
an NVLink count no bigger than `topo -m` can print), every GPU and NIC index once, every link between two
endpoints the report has, every GPU pair with its link (only `tpdoctor bench` without a topology writes
none), every port's peer a GPU of the report. A report that breaks one of them contradicts itself, and
judging it anyway could turn a critical node OK (a link left out is never judged), so it is refused with
the JSON path and why.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from typing import Any

from tpdoctor import SCHEMA, __version__
from tpdoctor.model import frozen
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.bounds import MAX_LINKS, MAX_STRING, check_counts
from tpdoctor.model.codec import from_data, short, to_data
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Report, Status
from tpdoctor.model.hints import type_hints
from tpdoctor.model.running import PID_MAX, Running
from tpdoctor.model.topology import Link, Topology, endpoint_key, normalize_path
from tpdoctor.model.unknown import Unknown

MAX_INDEX = 1023  # GPU and NIC indices: NVML numbers a node's devices from 0; no node comes near this
MAX_NVLINKS = 72  # NVLinks between two GPUs: the limit `topo -m`'s NV<n> is read with
MAX_INT = 2**64 - 1  # the widest counter NVML has (unsigned long long)
MAX_FLOAT = 1e15  # GB/s, µs, seconds: anything beyond is not a measurement
MAX_DEPTH = 32  # nesting of free-form evidence
UNPROBED = "bench"  # the source of a report whose node was measured but never probed: it may list no links
# per-field upper bounds (everything numeric is also finite and not negative)
LIMITS: dict[str, int] = {"Gpu.index": MAX_INDEX, "Nic.index": MAX_INDEX, "NvLinkPort.peer": MAX_INDEX,
                          "NvLinkPort.link": 255, "Link.nvlinks": MAX_NVLINKS,
                          "Link.nvlinks_expected": MAX_NVLINKS, "Gpu.memory_mib": 2**40,
                          "ComputeProcess.pid": PID_MAX, "ComputeProcess.gpu": MAX_INDEX,
                          "ComputeProcess.used_memory_mib": 2**40, "Process.pid": PID_MAX, "Process.ppid": PID_MAX,
                          "Hidden.pid": PID_MAX, "RunningGroup.root": PID_MAX, "RunningGroup.tp": 4096,
                          "RunningGroup.pp": 4096}


def report_to_data(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": SCHEMA, "tool_version": __version__, **to_data(report.topology)}
    data["bench"] = to_data(report.bench)
    data["findings"] = to_data(report.findings)
    data["status"] = report.status.value
    return data


def render(report: Report) -> str:
    return json.dumps(report_to_data(report), indent=2, sort_keys=False) + "\n"


def report_from_data(data: Any, source: str = "<json>", *, ports: bool = True, check: bool = True) -> Report:
    """Read a report or snapshot written by `render`; a wrong schema or shape, a value out of range or a
    report that contradicts itself is a ParseError (`check=False` leaves `validate` to the caller).

    `ports=False` skips the per-NVLink-port detail of each GPU (link verdicts are kept): a fleet merge of
    thousands of reports needs the links, not every port's counters, and ports are most of the cost.
    """
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object", source=source)
    schema = data.get("schema")
    if schema != SCHEMA:
        raise ParseError(f"schema is {schema!r}, expected {SCHEMA!r}", source=source)
    check_counts(data, source)
    try:
        topo_fields = {k: v for k, v in data.items() if k not in ("bench", "findings", "status")}
        if not ports and isinstance(topo_fields.get("gpus"), list):
            topo_fields["gpus"] = [{**g, "nvlinks": []} if isinstance(g, dict) else g
                                   for g in topo_fields["gpus"]]
        topology = from_data(Topology, topo_fields)
        bench = from_data(tuple[BenchResult, ...], data.get("bench", []), "$.bench")
        findings = tuple(_typed(f) for f in from_data(tuple[Finding, ...], data.get("findings", []), "$.findings"))
        status = Status(data.get("status", "ok"))
    except (ValueError, TypeError) as exc:
        raise ParseError(str(exc), source=source) from None
    report = Report(topology=topology, bench=bench, findings=findings, status=status)
    if check:
        validate(report, source)
    return report


def validate(report: Report, source: str = "<json>", *, links_checked: bool = False) -> None:
    """Raise ParseError naming the JSON path when a value is out of range or the report contradicts itself
    (see the module docstring). A fleet validates thousands of reports: the first pass only says yes or no,
    the second, on a refusal only, finds the path; `links_checked` skips the links table, which the caller
    has checked with `check_links` for these GPUs and NICs (fleets share one table between many reports)."""
    topology = frozen.replace(report.topology, links=()) if links_checked else report.topology
    parts: tuple[tuple[Any, str], ...] = ((topology, "$"),
                                          *((b, f"$.bench[{i}]") for i, b in enumerate(report.bench)),
                                          *((f, f"$.findings[{i}]") for i, f in enumerate(report.findings)))
    try:
        for obj, where in parts:
            if not _in_range(obj):
                _ranges(obj, where)
        gpus, nics = _devices(report.topology)
        if report.topology.running is not None:
            _running(report.topology.running, gpus)
        if not links_checked:
            _links(report.topology.links, gpus, nics, probed=report.topology.source != UNPROBED)
    except ValueError as exc:
        raise ParseError(str(exc), source=source) from None


def check_links(links: tuple[Link, ...], gpus: Iterable[int], nics: Iterable[int], source: str = "<json>", *,
                probed: bool = True) -> None:
    """A links table checked on its own, for a node with these GPU and NIC indices: ranges, endpoints, every
    GPU pair; `validate(..., links_checked=True)` then skips the table."""
    try:
        if len(links) > MAX_LINKS:
            raise ValueError(f"$.links: {len(links):,} links in one node report; at most {MAX_LINKS:,} are read")
        for i, link in enumerate(links):
            if not _in_range(link):
                _ranges(link, f"$.links[{i}]")
        _links(links, dict.fromkeys(gpus, 0), dict.fromkeys(nics, 0), probed)
    except ValueError as exc:
        raise ParseError(str(exc), source=source) from None


def validate_bench(results: tuple[BenchResult, ...], source: str = "<json>", where: str = "$.bench") -> None:
    """The ranges of bench results read on their own (`check-deployment --bench FILE`)."""
    try:
        for i, b in enumerate(results):
            _ranges(b, f"{where}[{i}]")
    except ValueError as exc:
        raise ParseError(str(exc), source=source) from None


_NUM, _NUMS, _ONE, _MANY, _FREE, _STR = range(6)  # a number, numbers, a dataclass, dataclasses, a map, a string


@cache
def _plan(cls: Any) -> tuple[tuple[str, int, int], ...]:
    """The fields of a dataclass worth checking, with what they hold and their upper bound (a string's is
    its length; enums and booleans are the codec's business)."""
    hints = type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):
        args = [a for a in (typing.get_args(hints[f.name]) or (hints[f.name],)) if a not in (Unknown, type(None))]
        kind = typing.get_origin(hints[f.name])
        first = args[0] if args else None
        if kind is dict:
            plan.append((f.name, _FREE, 0))
        elif kind is tuple and first in (int, float, str):
            plan.append((f.name, _NUMS, MAX_INT if first is not str else MAX_STRING))
        elif kind is tuple and dataclasses.is_dataclass(first):
            plan.append((f.name, _MANY, 0))
        elif dataclasses.is_dataclass(first):
            plan.append((f.name, _ONE, 0))
        elif first in (int, float):
            plan.append((f.name, _NUM, LIMITS.get(f"{cls.__name__}.{f.name}", MAX_INT)))
        elif first is str:
            plan.append((f.name, _STR, MAX_STRING))
    return tuple(plan)


def _ok(value: Any, limit: int) -> bool:
    cls = value.__class__
    if cls is str:
        return len(value) <= limit
    if cls is int:
        return 0 <= value <= limit
    if cls is float:
        return 0.0 <= value <= MAX_FLOAT  # false for NaN and infinities too
    return True  # Unknown, None


@cache
def _checks(cls: Any) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...],
                               tuple[tuple[str, int], ...], tuple[str, ...]]:
    """`_plan` by kind: (numbers and strings with their bound, one dataclass, many, numbers, free-form)."""
    plan = _plan(cls)
    return (tuple((n, lim) for n, k, lim in plan if k in (_NUM, _STR)), tuple(n for n, k, _ in plan if k == _ONE),
            tuple(n for n, k, _ in plan if k == _MANY), tuple((n, lim) for n, k, lim in plan if k == _NUMS),
            tuple(n for n, k, _ in plan if k == _FREE))


def _in_range(obj: Any) -> bool:
    """The fast pass: no paths, no messages; every field of the plan checked (in any order: it is one yes/no)."""
    values, ones, manys, numbers, free = _checks(obj.__class__)
    fields = obj.__dict__
    for name, limit in values:
        value = fields[name]
        cls = value.__class__
        if cls is str:
            if len(value) > limit:
                return False
        elif cls is int:
            if not 0 <= value <= limit:
                return False
        elif cls is float and not 0.0 <= value <= MAX_FLOAT:  # false for NaN and infinities too
            return False
    for name in ones:
        value = fields[name]
        if value is not None and not _in_range(value):
            return False
    for name in manys:
        for value in fields[name]:
            if not _in_range(value):
                return False
    for name, limit in numbers:
        if not all(_ok(v, limit) for v in fields[name]):
            return False
    return all(not fields[name] or _free_ok(fields[name], 0) for name in free)


def _free_ok(value: Any, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(_free_ok(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_free_ok(v, depth + 1) for v in value)
    if isinstance(value, str):
        return len(value) <= MAX_STRING
    return not isinstance(value, float) or math.isfinite(value)


def _ranges(obj: Any, where: str) -> None:
    """The slow pass: the first value out of range, with its path."""
    for name, kind, limit in _plan(obj.__class__):
        value = getattr(obj, name)
        path = f"{where}.{name}"
        if kind == _NUM:
            _number(value, path, limit)
        elif kind == _STR and not _ok(value, limit):
            raise ValueError(f"{path}: {len(value):,} characters (at most {limit:,})")
        elif kind == _ONE and value is not None:
            _ranges(value, path)
        elif kind in (_MANY, _NUMS):
            for i, item in enumerate(value):
                _ranges(item, f"{path}[{i}]") if kind == _MANY else _number(item, f"{path}[{i}]", limit)
        elif kind == _FREE:
            _free_form(value, path, 0)


def _number(value: Any, where: str, limit: int) -> None:
    if _ok(value, limit):
        return
    if isinstance(value, str):
        raise ValueError(f"{where}: {len(value):,} characters (at most {limit:,})")
    if isinstance(value, float) and not (math.isfinite(value) and value <= MAX_FLOAT):
        raise ValueError(f"{where}: {value!r} is not a plausible measurement")
    raise ValueError(f"{where}: {short(value)} is out of range (0 to {limit:,})")


def _free_form(value: Any, where: str, depth: int) -> None:
    """Evidence and other free-form maps: nested at most MAX_DEPTH deep, numbers finite."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            _free_form(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _free_form(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a number")
    elif isinstance(value, str) and len(value) > MAX_STRING:
        raise ValueError(f"{where}: {len(value):,} characters (at most {MAX_STRING:,})")


def _devices(topology: Topology) -> tuple[dict[int, int], dict[int, int]]:
    """GPU and NIC indices once each (index -> position), port peers that are GPUs of the report."""
    gpus: dict[int, int] = {}
    for i, g in enumerate(topology.gpus):
        if g.index in gpus:
            raise ValueError(f"$.gpus[{i}].index: GPU{g.index} twice (also $.gpus[{gpus[g.index]}])")
        gpus[g.index] = i
    nics: dict[int, int] = {}
    for i, n in enumerate(topology.nics):
        if n.index in nics:
            raise ValueError(f"$.nics[{i}].index: NIC{n.index} twice (also $.nics[{nics[n.index]}])")
        nics[n.index] = i
    for i, g in enumerate(topology.gpus):
        seen: set[int] = set()
        for k, port in enumerate(g.nvlinks):
            if port.link in seen:
                raise ValueError(f"$.gpus[{i}].nvlinks[{k}].link: NVLink {port.link} of GPU{g.index} listed twice")
            seen.add(port.link)
            if port.peer is not None and port.peer not in gpus:
                raise ValueError(f"$.gpus[{i}].nvlinks[{k}].peer: GPU{port.peer} is not a GPU of this report")
    return gpus, nics


def _running(running: Running, gpus: dict[int, int]) -> None:
    """The compute-process table and the groups name GPUs of the report, and pids the kernel can have."""
    where = "$.running"
    for i, row in enumerate(running.table):
        if row.gpu not in gpus:
            raise ValueError(f"{where}.table[{i}].gpu: GPU{row.gpu} is not a GPU of this report")
    for i, g in enumerate(running.groups):
        for k, gpu in enumerate(g.gpus):
            if gpu not in gpus:
                raise ValueError(f"{where}.groups[{i}].gpus[{k}]: GPU{gpu} is not a GPU of this report")
        for k, pid in enumerate(g.pids):
            if not 0 < pid <= PID_MAX:
                raise ValueError(f"{where}.groups[{i}].pids[{k}]: {pid} is not a process id")
        if g.status not in ("ok", "warning", "critical", "unknown"):
            raise ValueError(f"{where}.groups[{i}].status: {short(g.status)} is not ok, warning, critical or unknown")
    for i, h in enumerate(running.hidden):
        for k, gpu in enumerate(h.gpus):
            if gpu not in gpus:
                raise ValueError(f"{where}.hidden[{i}].gpus[{k}]: GPU{gpu} is not a GPU of this report")


def _links(links: tuple[Link, ...], gpus: dict[int, int], nics: dict[int, int], probed: bool = True) -> None:
    """Links between endpoints the report has, each pair once, every GPU pair present (a report that never
    probed its node, `probed=False`, may list none at all)."""
    pairs: dict[tuple[str, str], int] = {}
    for i, link in enumerate(links):
        _link(link, i, gpus, nics)
        pair = (link.a, link.b) if endpoint_key(link.a) <= endpoint_key(link.b) else (link.b, link.a)
        if pair in pairs:
            raise ValueError(f"$.links[{i}]: {pair[0]}-{pair[1]} listed twice (also $.links[{pairs[pair]}])")
        pairs[pair] = i
    indices = sorted(gpus)
    gpu_pairs = sum(1 for a, b in pairs if a.startswith("GPU") and b.startswith("GPU"))
    if gpu_pairs != len(indices) * (len(indices) - 1) // 2 and (probed or gpu_pairs):  # one left out: never judged
        missing = next((a, b) for k, a in enumerate(indices) for b in indices[k + 1:]
                       if (f"GPU{a}", f"GPU{b}") not in pairs)
        raise ValueError(f"$.links: no link between GPU{missing[0]} and GPU{missing[1]} (a report lists every "
                         "GPU pair; one left out would never be judged)")


def _link(link: Any, i: int, gpus: dict[int, int], nics: dict[int, int]) -> None:
    for end in ("a", "b"):
        label = getattr(link, end)
        try:
            kind, index = endpoint_key(label)
        except ValueError:
            raise ValueError(f"$.links[{i}].{end}: {short(label)} is not a GPU or NIC label") from None
        if index not in (gpus if kind == 0 else nics):
            raise ValueError(f"$.links[{i}].{end}: {label} is not a {'GPU' if kind == 0 else 'NIC'} of this report")
    if link.a == link.b:
        raise ValueError(f"$.links[{i}]: a link from {link.a} to itself")
    for name in ("path", "pcie_path"):
        value = getattr(link, name)
        if not isinstance(value, Unknown) and not _is_path(value):
            raise ValueError(f"$.links[{i}].{name}: {short(value)} is not a topology path (NV<n>, PIX, PXB, PHB, "
                             "NODE, SYS or NET)")


@cache
def _is_path(value: str) -> bool:
    """A path as tpdoctor writes it: `topo -m`'s canonical spelling, or NET between nodes."""
    if value == "NET":
        return True
    try:
        return normalize_path(value) == value
    except ValueError:
        return False


def _typed(finding: Finding) -> Finding:
    """`evidence.judged: false` on the wire is `Finding.judged` in the model."""
    return replace(finding, judged=False) if finding.evidence.get("judged") is False else finding


def parse_json(text: str, source: str = "<json>") -> Any:
    """`json.loads` for input: every way it can fail is a ParseError naming the file (Python's own parser
    gives up on nesting deeper than about 1,000 levels and on integers of more than 4,300 digits)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON ({exc.msg})", source=source, line=exc.lineno) from None
    except RecursionError:
        raise ParseError("JSON nested too deep to be a report", source=source) from None
    except ValueError as exc:  # int_max_str_digits
        raise ParseError(f"JSON with a number too long to be a measurement ({str(exc).split(':')[0]})",
                         source=source) from None


def loads(text: str, source: str = "<json>", *, ports: bool = True) -> Report:
    return report_from_data(parse_json(text, source), source, ports=ports)
