"""The documented shape of the facts rules see, and its checks.

A *scope* (``node``, ``deployment``) has *subject kinds* (for ``node``: ``link``, ``gpu``, ``bench``,
``drift``, ``node``). A rule names its scope and the kind it runs over (``each``); it is evaluated once per
subject of that kind, with the subject bound to the kind's name in CEL and templates (``link.a``), plus the
scope's shared objects (``node.host``).

Facts are plain dicts of CEL-friendly values: bool, int, float, str, None, lists and dicts of those.
A fact that could not be read is ``None`` in the dict and its reason sits in the subject's ``unknown`` map
(``link.unknown.p2p == "not read"``). The engine leaves unknown facts *out* of the CEL object: a rule
asks ``has(link.p2p)`` to decide for itself, otherwise reading the fact fails and the engine reports that
the rule could not judge the subject. A *nullable* fact's ``None`` means "not applicable" (documented
per fact), and rules test it with ``!= null``.

A scope's facts module defines its ``ScopeSchema`` and builds its ``ScopeFacts`` (``node/facts.py``,
``deploy/facts.py``, ``fleet/facts.py``); whoever loads rules hands the schemas in (`load_rules`,
`Engine`). The engine never imports them: it knows the scope names (``SCOPES``) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.model.errors import TpdError

TYPES = ("bool", "int", "float", "string", "list", "map")
S, INT, F, B, L = "string", "int", "float", "bool", "list"  # short names for schema tables
_PY = {"bool": (bool,), "int": (int,), "float": (float,), "string": (str,), "list": (list,), "map": (dict,)}
ID_FIELD = "id"  # every subject has one: the Finding's subject ("GPU0-GPU1", "GPU3", a deployment name)
UNKNOWN_FIELD = "unknown"  # every subject has one: fact name -> reason it could not be read
SCOPES = ("node", "deployment", "fleet", "running")  # the scopes a rule file may name


class FactError(TpdError):
    """Facts that break their documented schema (a bug in whoever built them, named precisely)."""


@dataclass(frozen=True)
class Fact:
    type: str  # one of TYPES
    doc: str
    nullable: bool = False  # may be None (unknown, or not applicable: the doc says which)
    fields: Mapping[str, Fact] | None = None  # for "map" (and "list" of maps): documented keys

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"fact type {self.type!r} is not one of {TYPES}")


@dataclass(frozen=True)
class SubjectSchema:
    name: str  # the CEL variable: link, gpu, node, deployment ...
    doc: str
    fields: Mapping[str, Fact]

    def all_fields(self) -> dict[str, Fact]:
        base = {
            ID_FIELD: Fact("string", "What a finding is about, e.g. GPU0-GPU1."),
            UNKNOWN_FIELD: Fact("map", "Fact name -> reason, for every fact that could not be read."),
        }
        return {**base, **self.fields}


@dataclass(frozen=True)
class ScopeSchema:
    scope: str
    doc: str
    subjects: Mapping[str, SubjectSchema]  # kinds a rule may run over (`each`)
    shared: tuple[str, ...] = ()  # kinds with exactly one subject, visible to every rule of the scope

    def variables_for(self, each: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((each, *self.shared)))

    def has_path(self, each: str, path: Sequence[str]) -> bool:
        """Whether a dotted fact path is documented for rules running over `each`."""
        if not path or path[0] not in self.variables_for(each):
            return False
        fields: Mapping[str, Fact] | None = self.subjects[path[0]].all_fields()
        for i, key in enumerate(path[1:]):
            if fields is None or key not in fields:
                return False
            fact = fields[key]
            if i == len(path) - 2:
                return True
            if fact.type == "map" and fact.fields is None:
                return True  # free-form map (e.g. `unknown`): any key
            fields = fact.fields if fact.type == "map" else None
        return True


@dataclass(frozen=True)
class ScopeFacts:
    """The facts for one evaluation: subjects per kind. Shared kinds hold exactly one subject."""

    scope: str
    subjects: Mapping[str, Sequence[dict[str, Any]]] = field(default_factory=dict)


def validate(schema: ScopeSchema, facts: ScopeFacts) -> None:
    """Raise FactError naming the subject and fact of the first value that breaks the schema."""
    if facts.scope != schema.scope:
        raise FactError(f"facts are for scope {facts.scope!r}, rules for {schema.scope!r}")
    for kind, subjects in facts.subjects.items():
        sub = schema.subjects.get(kind)
        if sub is None:
            raise FactError(f"{schema.scope} facts: undocumented subject kind {kind!r}")
        if kind in schema.shared and len(subjects) != 1:
            raise FactError(f"{schema.scope} facts: {kind!r} must have exactly one subject, got {len(subjects)}")
        fields = sub.all_fields()
        for obj in subjects:
            where = f"{kind} {obj.get(ID_FIELD, '?')}"
            _check_map(fields, obj, where)


def _check_map(fields: Mapping[str, Fact], obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise FactError(f"{where}: expected a map, got {type(obj).__name__}")
    for name in obj:
        if name not in fields:
            raise FactError(f"{where}: undocumented fact {name!r}")
    for name, fact in fields.items():
        if name not in obj:
            raise FactError(f"{where}: missing fact {name!r}")
        _check_value(fact, obj[name], f"{where}: {name}")


def _check_value(fact: Fact, value: Any, where: str) -> None:
    if value is None:
        if not fact.nullable:
            raise FactError(f"{where} is null but not nullable")
        return
    ok = isinstance(value, _PY[fact.type]) and not (fact.type in ("int", "float") and isinstance(value, bool))
    if not ok:
        raise FactError(f"{where} should be {fact.type}, got {type(value).__name__} {value!r}")
    if fact.fields is not None:
        if fact.type == "map":
            _check_map(fact.fields, value, where)
        elif fact.type == "list":
            for i, item in enumerate(value):
                _check_map(fact.fields, item, f"{where}[{i}]")
