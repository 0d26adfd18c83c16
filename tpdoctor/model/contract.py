"""The `tpdoctor/v1` JSON contract (DESIGN §4): one flat object per report or snapshot."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tpdoctor import SCHEMA
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.codec import from_data, to_data
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Report, Status
from tpdoctor.model.topology import Topology


def report_to_data(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": SCHEMA, **to_data(report.topology)}
    data["bench"] = to_data(report.bench)
    data["findings"] = to_data(report.findings)
    data["status"] = report.status.value
    return data


def render(report: Report) -> str:
    return json.dumps(report_to_data(report), indent=2, sort_keys=False) + "\n"


def report_from_data(data: Any, source: str = "<json>", *, ports: bool = True) -> Report:
    """Read a report or snapshot written by `render`; a wrong schema or shape is a ParseError.

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
    return Report(topology=topology, bench=bench, findings=findings, status=status)


def _typed(finding: Finding) -> Finding:
    """`evidence.judged: false` on the wire is `Finding.judged` in the model."""
    return replace(finding, judged=False) if finding.evidence.get("judged") is False else finding


def loads(text: str, source: str = "<json>", *, ports: bool = True) -> Report:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON ({exc.msg})", source=source, line=exc.lineno) from None
    return report_from_data(data, source, ports=ports)
