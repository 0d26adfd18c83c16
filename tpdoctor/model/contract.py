"""The `tpdoctor/v1` JSON contract (DESIGN §4): one flat object per report or snapshot.

Reading is strict, because a report is input from another machine or another person: the codec checks
every type, and `validate` checks what types cannot say: each number in its range (finite, not negative,
an NVLink count no bigger than `topo -m` can print), every GPU and NIC index once, every link between two
endpoints the report has, every GPU pair with its link, every port's peer a GPU of the report. A report
that breaks one of them contradicts itself, and judging it anyway could turn a critical node OK (a link
left out is never judged), so it is refused with the JSON path and why.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from typing import Any

from tpdoctor import SCHEMA
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.codec import from_data, short, to_data
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Report, Status
from tpdoctor.model.topology import Topology, endpoint_key, normalize_path
from tpdoctor.model.unknown import Unknown

MAX_INDEX = 1023  # GPU and NIC indices: NVML numbers a node's devices from 0; no node comes near this
MAX_NVLINKS = 72  # NVLinks between two GPUs: the limit `topo -m`'s NV<n> is read with
MAX_INT = 2**64 - 1  # the widest counter NVML has (unsigned long long)
MAX_FLOAT = 1e15  # GB/s, µs, seconds: anything beyond is not a measurement
MAX_DEPTH = 32  # nesting of free-form evidence
# per-field upper bounds (everything numeric is also finite and not negative)
LIMITS: dict[str, int] = {"Gpu.index": MAX_INDEX, "Nic.index": MAX_INDEX, "NvLinkPort.peer": MAX_INDEX,
                          "NvLinkPort.link": 255, "Link.nvlinks": MAX_NVLINKS,
                          "Link.nvlinks_expected": MAX_NVLINKS, "Gpu.memory_mib": 2**40}


def report_to_data(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": SCHEMA, **to_data(report.topology)}
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


def validate(report: Report, source: str = "<json>") -> None:
    """Raise ParseError naming the JSON path when a value is out of range or the report contradicts itself
    (see the module docstring)."""
    try:
        _ranges(report.topology, "$")
        for i, b in enumerate(report.bench):
            _ranges(b, f"$.bench[{i}]")
        for i, f in enumerate(report.findings):
            _ranges(f, f"$.findings[{i}]")
        _consistent(report.topology)
    except ValueError as exc:
        raise ParseError(str(exc), source=source) from None


def validate_bench(results: tuple[BenchResult, ...], source: str = "<json>", where: str = "$.bench") -> None:
    """The ranges of bench results read on their own (`check-deployment --bench FILE`)."""
    try:
        for i, b in enumerate(results):
            _ranges(b, f"{where}[{i}]")
    except ValueError as exc:
        raise ParseError(str(exc), source=source) from None


def _ranges(obj: Any, where: str) -> None:
    name = type(obj).__name__
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{where}.{f.name}"
        if dataclasses.is_dataclass(value):
            _ranges(value, path)
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    _ranges(item, f"{path}[{i}]")
                else:
                    _number(item, f"{path}[{i}]", MAX_INT)
        elif isinstance(value, dict):
            _free_form(value, path, 0)
        else:
            _number(value, path, LIMITS.get(f"{name}.{f.name}", MAX_INT))


def _number(value: Any, where: str, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not (math.isfinite(value) and value <= MAX_FLOAT):
        raise ValueError(f"{where}: {value!r} is not a plausible measurement")
    if value < 0 or value > limit:
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


def _consistent(topology: Topology) -> None:
    """Indices once each, links between endpoints the report has, port peers that are its GPUs."""
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
            where = f"$.gpus[{i}].nvlinks[{k}]"
            if port.link in seen:
                raise ValueError(f"{where}.link: NVLink {port.link} of GPU{g.index} listed twice")
            seen.add(port.link)
            if port.peer is not None and port.peer not in gpus:
                raise ValueError(f"{where}.peer: GPU{port.peer} is not a GPU of this report")
    pairs: dict[tuple[str, str], int] = {}
    for i, link in enumerate(topology.links):
        _link(link, f"$.links[{i}]", gpus, nics)
        pair = (link.a, link.b) if endpoint_key(link.a) <= endpoint_key(link.b) else (link.b, link.a)
        if pair in pairs:
            raise ValueError(f"$.links[{i}]: {pair[0]}-{pair[1]} listed twice (also $.links[{pairs[pair]}])")
        pairs[pair] = i
    indices = sorted(gpus)
    gpu_pairs = sum(1 for a, b in pairs if a.startswith("GPU") and b.startswith("GPU"))
    if gpu_pairs != len(indices) * (len(indices) - 1) // 2:  # a pair left out would never be judged
        missing = next((a, b) for k, a in enumerate(indices) for b in indices[k + 1:]
                       if (f"GPU{a}", f"GPU{b}") not in pairs)
        raise ValueError(f"$.links: no link between GPU{missing[0]} and GPU{missing[1]} (a report lists every "
                         "GPU pair; one left out would never be judged)")


def _link(link: Any, where: str, gpus: dict[int, int], nics: dict[int, int]) -> None:
    for end in ("a", "b"):
        label = getattr(link, end)
        try:
            kind, index = endpoint_key(label)
        except ValueError:
            raise ValueError(f"{where}.{end}: {short(label)} is not a GPU or NIC label") from None
        if index not in (gpus if kind == 0 else nics):
            raise ValueError(f"{where}.{end}: {label} is not a {'GPU' if kind == 0 else 'NIC'} of this report")
    if link.a == link.b:
        raise ValueError(f"{where}: a link from {link.a} to itself")
    for name in ("path", "pcie_path"):
        value = getattr(link, name)
        if isinstance(value, Unknown) or value == "NET":
            continue
        try:
            ok = normalize_path(value) == value
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}.{name}: {short(value)} is not a topology path (NV<n>, PIX, PXB, PHB, "
                             "NODE, SYS or NET)")




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
