"""Write the JSON Schemas (draft 2020-12) of tpdoctor's JSON contracts into schemas/, from the data model.

    python scripts/make_schemas.py          # rewrite schemas/*.schema.json
    python scripts/make_schemas.py --check  # exit 1 when a committed schema differs from the model

The schemas follow the codec (`tpdoctor/model/codec.py`): a dataclass is an object whose required fields
are those without a default; a value the probe could not read (`Maybe[T]`) is `null` with its reason in
the object's `unknown` map; enums are their values; every number is finite and not negative
(`model/contract.validate` checks ranges and cross-references a schema cannot say). Objects allow added
properties: `tpdoctor/v1` may gain fields, and a reader must ignore those it does not know; renaming or
removing one needs `v2` (docs/contract.md).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import typing
from pathlib import Path
from typing import Any, Union

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tpdoctor import SCHEMA, __version__  # noqa: E402
from tpdoctor.fleet.view import FleetView  # noqa: E402
from tpdoctor.model.bench import BenchResult  # noqa: E402
from tpdoctor.model.findings import Finding, Status  # noqa: E402
from tpdoctor.model.hints import type_hints  # noqa: E402
from tpdoctor.model.topology import Topology  # noqa: E402
from tpdoctor.model.unknown import Unknown  # noqa: E402
from tpdoctor.report.cluster import FLEET_CHECK_SCHEMA  # noqa: E402
from tpdoctor.report.fleet_text import FLEET_SCHEMA  # noqa: E402

BASE = "https://github.com/tpdoctor/tpdoctor/blob/main/schemas/"
UNKNOWN = {"type": "object", "description": "why each null field of this object could not be read",
           "additionalProperties": {"type": "string"}}


class Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def of(self, tp: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any:
            return {}
        if origin is Union or type(tp).__name__ == "UnionType":
            members = [a for a in args if a not in (Unknown, type(None))]
            options = [self.of(a) for a in members]
            if Unknown in args or type(None) in args:
                options.append({"type": "null"})
            return options[0] if len(options) == 1 else {"anyOf": options}
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"enum": [m.value for m in tp]}
        if origin in (tuple, list):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                return {"type": "array", "prefixItems": [self.of(a) for a in args], "minItems": len(args),
                        "maxItems": len(args)}
            return {"type": "array", "items": self.of(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(args[1])}
        return {bool: {"type": "boolean"}, int: {"type": "integer", "minimum": 0},
                float: {"type": "number", "minimum": 0}, str: {"type": "string"}}[tp]

    def dataclass(self, tp: type) -> dict[str, Any]:
        name = tp.__name__
        if name not in self.defs:
            self.defs[name] = {}  # recursion guard
            hints = type_hints(tp)
            fields = [f for f in dataclasses.fields(tp) if f.metadata.get("json") is not False]
            doc = " ".join((tp.__doc__ or "").split())
            self.defs[name] = {
                "type": "object", **({"description": doc} if doc else {}),
                "properties": {**{f.name: self.of(hints[f.name]) for f in fields}, "unknown": UNKNOWN},
                "required": [f.name for f in fields if f.default is dataclasses.MISSING
                             and f.default_factory is dataclasses.MISSING],
            }
        return {"$ref": f"#/$defs/{name}"}


def report_schema() -> dict[str, Any]:
    b = Builder()
    b.dataclass(Topology)
    topology = b.defs.pop("Topology")
    props = {
        "schema": {"const": SCHEMA},
        "tool_version": {"type": "string", "description": "the tpdoctor that wrote it (since 0.1.0; absent "
                                                          "in reports written before)"},
        **{k: v for k, v in topology["properties"].items() if k != "schema"},
        "bench": {"type": "array", "items": b.of(BenchResult)},
        "findings": {"type": "array", "items": b.of(Finding)},
        "status": b.of(Status),
    }
    return _document("tpdoctor-v1", "tpdoctor/v1: a node report or snapshot (scan, health, bench, demo --json; "
                     "fleet inputs)", props, ["schema", "host", "source", "captured_at", "gpus"], b)


def fleet_schema() -> dict[str, Any]:
    b = Builder()
    b.dataclass(FleetView)
    view = b.defs.pop("FleetView")
    props = {"schema": {"const": FLEET_SCHEMA}, "tool_version": {"type": "string"}, **view["properties"]}
    return _document("fleet-v1", f"{FLEET_SCHEMA}: the cluster view of `tpdoctor fleet --json`", props,
                     ["schema", *view["required"]], b)


def fleet_check_schema() -> dict[str, Any]:
    b = Builder()
    host_gpus = {"type": "object", "required": ["host", "gpus"],
                 "properties": {"host": {"type": "string"},
                                "gpus": {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 0}},
                                                   {"type": "null"}]}}}
    finding = {"type": "object", "required": ["rule", "name", "severity", "subject", "message"],
               "properties": {"rule": {"type": "string"}, "name": {"type": "string"},
                              "severity": {"enum": ["info", "warning", "critical"]}, "subject": {"type": "string"},
                              "message": {"type": "string"}, "recommendation": {"type": "string"},
                              "suppressed": {"type": "boolean"},
                              "suppressed_reason": {"type": ["string", "null"]}, "judged": {"type": "boolean"}}}
    count = {"type": "integer", "minimum": 0}
    props = {
        "schema": {"const": FLEET_CHECK_SCHEMA}, "tool_version": {"type": "string"},
        "detail": {"enum": ["findings", "full"], "description": "`findings` (default): the deployments with a "
                   "judged finding, their placements and facts, counts of the rest in `summary`; `full`: every "
                   "deployment, placement, fact and could-not-judge note"},
        "nodes": count, "stale_nodes": count, "status": b.of(Status),
        "summary": {"type": "object", "properties": {
            "deployments": count, "deployments_listed": count, "not_judged": count, "fleet_findings": count,
            "questions_open": count,
            "placements": {"type": "object", "additionalProperties": count},
            "findings": {"type": "object", "additionalProperties": count}}},
        "problems": {"type": "array", "items": {"type": "object"}},
        "placements": {"type": "array", "items": {
            "type": "object", "required": ["deployment", "how", "stages"],
            "properties": {"deployment": {"type": "string"},
                           "how": {"enum": ["pinned", "node", "placed", "unplaced"]},
                           "stages": {"type": "array", "items": host_gpus},
                           "copies": {"type": "array", "items": {"type": "array", "items": host_gpus}},
                           "note": {"type": ["string", "null"]}}}},
        "deployments": {"type": "array", "description": "each listed deployment's facts (docs/rules.md, "
                        "deployment scope)", "items": {"type": "object", "required": ["name"]}},
        "findings": {"type": "array", "items": finding},
        "questions": {"type": "array", "description": "critical questions left open (UNKNOWN unless a finding is "
                      "critical), or accepted with --accept-unknown", "items": {
                          "type": "object", "required": ["subject", "question", "reason"],
                          "properties": {"subject": {"type": "string"},
                                         "question": {"enum": ["starts", "tp_valid", "rules"]},
                                         "reason": {"type": "string"}, "answer_with": {"type": ["string", "null"]},
                                         "accepted": {"type": ["string", "null"]}}}},
    }
    return _document("fleet-check-v1", f"{FLEET_CHECK_SCHEMA}: `check-deployment --fleet --json`", props,
                     ["schema", "nodes", "status", "placements", "deployments", "findings"], b)


def _document(name: str, title: str, props: dict[str, Any], required: list[str], b: Builder) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{BASE}{name}.schema.json",
            "title": title, "type": "object", "properties": props, "required": required,
            "$defs": dict(sorted(b.defs.items()))}


SCHEMAS = {"tpdoctor-v1.schema.json": report_schema, "fleet-v1.schema.json": fleet_schema,
           "fleet-check-v1.schema.json": fleet_check_schema}


def rendered() -> dict[str, str]:
    return {name: json.dumps(make(), indent=2, ensure_ascii=False) + "\n" for name, make in SCHEMAS.items()}


def main(argv: list[str]) -> int:
    out = ROOT / "schemas"
    stale = [n for n, text in rendered().items() if not (out / n).exists() or (out / n).read_text() != text]
    if "--check" in argv:
        print("\n".join(f"schemas/{n} differs from the model; run scripts/make_schemas.py" for n in stale))
        return 1 if stale else 0
    for name, text in rendered().items():
        (out / name).write_text(text)
    print(f"wrote {len(SCHEMAS)} schemas for tpdoctor {__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
