"""The codec's fast pass: JSON data -> dataclasses without JSON paths, for the values the exact pass accepts.

`codec.from_data` tries this pass first and, on any doubt, runs the exact pass (`codec._converter`), which
gives the same value or the error with its path. So this pass must build exactly what the exact pass
builds, and must never accept what it refuses. A converter takes `(data, unknown reason)` and raises `No`
(the exact pass certainly refuses this value: a union tries its next member) or `Doubt` (leave it to the
exact pass). A fleet reads thousands of reports of ~30 dataclasses each, so a plain dataclass (its
`__init__` only stores fields) gets a converter written for it, as `dataclasses` writes `__init__`: each
field read, checked and stored inline (exact scalar types, `Maybe[...]` with its reason), the instance's
`__dict__` filled in field order without calling `__init__`. Unknowns are shared, one per reason.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from tpdoctor.model.frozen import plain_dataclass
from tpdoctor.model.hints import is_union, type_hints
from tpdoctor.model.unknown import Unknown

UNKNOWN_KEY = "unknown"
Converter = Callable[[Any, "str | None"], Any]
_JSON_TYPES = (dict, list, str, int, float, bool, type(None))
_MISSING = object()
_SCALARS = (int, float, str, bool)


class No(Exception):
    """This value is certainly not of this type (the exact pass refuses it too)."""


class Doubt(Exception):
    """Leave this value to the exact pass."""


def _refuse(data: Any) -> Exception:
    return No() if data.__class__ in _JSON_TYPES else Doubt()


@cache
def converter(tp: Any) -> Converter:
    """The fast pass's converter for one type."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return lambda data, reason: data
    if is_union(origin):
        return _union(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp)
    args = typing.get_args(tp)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return _fixed(tp)
    if origin in (tuple, list, dict):
        return _container(origin, converter(args[-1] if origin is dict else args[0]))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        def convert_enum(data: Any, reason: str | None) -> Any:
            try:
                return tp(data)
            except (ValueError, TypeError):
                raise Doubt from None
        return convert_enum
    if tp in (*_SCALARS, type(None)):
        return _scalar(tp)

    def undecided(data: Any, reason: str | None) -> Any:
        raise Doubt  # a type the exact pass alone knows (or refuses)
    return undecided


def _container(origin: Any, item: Converter) -> Converter:
    """A list or `tuple[X, ...]` (a JSON array) or a `dict[str, X]` (an object): every item converted."""
    if origin is dict:
        def convert_dict(data: Any, reason: str | None) -> Any:
            if data.__class__ is not dict:
                raise _refuse(data)
            try:
                return {k: item(v, None) for k, v in data.items()}
            except No:
                raise Doubt from None
        return convert_dict
    make = tuple if origin is tuple else list

    def convert_items(data: Any, reason: str | None) -> Any:
        if data.__class__ is not list:
            raise _refuse(data)
        try:
            return make([item(v, None) for v in data])
        except No:
            raise Doubt from None
    return convert_items


def _fixed(tp: Any) -> Converter:
    items = [converter(a) for a in typing.get_args(tp)]

    def convert(data: Any, reason: str | None) -> Any:
        if data.__class__ is not list:
            raise _refuse(data)
        if len(data) != len(items):
            raise No
        try:
            return tuple([c(v, None) for c, v in zip(items, data)])
        except No:
            raise Doubt from None
    return convert


def _scalar(tp: type) -> Converter:
    """Exactly the JSON values the exact pass accepts, as it returns them (an int read as a float becomes one)."""
    def convert(data: Any, reason: str | None) -> Any:
        cls = data.__class__
        if cls is tp:
            return data
        if tp is float and cls is int:
            return float(data)
        raise _refuse(data)
    return convert


def _unknowns() -> Callable[[str], Unknown]:
    """One Unknown per reason (an Unknown is immutable; a report holds dozens of equal ones)."""
    made: dict[str, Unknown] = {}

    def unknown(why: str) -> Unknown:
        found = made.get(why)
        if found is None:
            found = Unknown(why)
            if len(made) < 1024:
                made[why] = found
        return found
    return unknown


def _union(tp: Any) -> Converter:
    args = typing.get_args(tp)
    allows_unknown = Unknown in args
    allows_none = type(None) in args
    members = [converter(a) for a in args if a not in (Unknown, type(None))]
    unknown = _unknowns()

    def convert(data: Any, reason: str | None) -> Any:
        if data is None:
            if allows_unknown and (reason is not None or not allows_none):
                return unknown(reason if reason is not None else "unknown")
            if allows_none:
                return None
        for member in members:
            try:
                return member(data, None)
            except No:
                continue
        raise No
    return convert


def _dataclass(tp: type) -> Converter:
    """A converter written for a plain dataclass (see the module docstring); a closure for any other."""
    if not plain_dataclass(tp):
        return _called(tp)
    fields = dataclasses.fields(tp)
    hints = type_hints(tp)
    scope: dict[str, Any] = {"_new": object.__new__, "_tp": tp, "No": No, "Doubt": Doubt, "_M": _MISSING,
                             "_JSON": _JSON_TYPES, "_unknown": _unknowns(), "int": int, "float": float, "str": str,
                             "bool": bool}
    body: list[str] = []
    for i, f in enumerate(fields):
        scope[f"_c{i}"] = converter(hints[f.name])
        if f.default is not dataclasses.MISSING:
            scope[f"_d{i}"] = f.default
            missing = f"_d{i}"
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_f{i}"] = f.default_factory
            missing = f"_f{i}()"
        else:
            missing = None
        body += [f"    v{i} = data.get({f.name!r}, _M)",
                 f"    if v{i} is _M:", f"        {'raise Doubt' if missing is None else f'v{i} = {missing}'}",
                 "    else:", *_field(i, f.name, hints[f.name])]
    stored = ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(fields))
    source = "\n".join([
        "def convert(data, reason):",
        "    if data.__class__ is not dict:",
        "        raise No() if data.__class__ in _JSON else Doubt()",
        f"    reasons = data.get({UNKNOWN_KEY!r}) or None",
        "    if reasons is not None and (reasons.__class__ is not dict",
        "                                or not all(w is None or w.__class__ is str for w in reasons.values())):",
        "        raise Doubt",
        "    try:",
        *("    " + line for line in body),
        "    except (No, ValueError, TypeError):",
        "        raise Doubt from None",
        "    obj = _new(_tp)",
        f"    obj.__dict__.update({{{stored}}})",
        "    return obj",
    ])
    exec(source, scope)  # noqa: S102 - code built from the class's own fields, as dataclasses builds __init__
    convert: Converter = scope["convert"]
    return convert


def _field(i: int, name: str, hint: Any) -> list[str]:
    """Lines converting `v{i}` (present in the data) in place: inline for a scalar and for `Maybe[scalar]`
    (None with a reason is that reason's Unknown), through the type's converter otherwise."""
    args = typing.get_args(hint)
    if hint in _SCALARS:
        return _check(i, hint, "        ")
    members = [a for a in args if a not in (Unknown, type(None))]
    origin = typing.get_origin(hint)
    union = is_union(origin)
    if union and len(members) == 1 and members[0] in _SCALARS:
        allows_unknown, allows_none = Unknown in args, type(None) in args
        none = ["        if v{0} is None:"]
        if allows_unknown:
            why = f"reasons.get({name!r}) if reasons is not None else None"
            none += [f"            w = {why}"]
            cond = "w is not None" if allows_none else "True"
            none += [f"            if {cond}:", "                v{0} = _unknown(w if w is not None else 'unknown')"]
            none += ["            elif True:" if allows_none else "            else:",
                     "                pass" if allows_none else "                raise Doubt"]
        elif not allows_none:
            none += ["            raise Doubt"]
        else:
            none += ["            pass"]
        return [line.format(i) for line in none] + ["        else:"] + _check(i, members[0], "            ")
    return [f"        v{i} = _c{i}(v{i}, " + (f"reasons.get({name!r}) if reasons is not None else None)"
                                                if union else "None)")]


def _check(i: int, tp: type, indent: str) -> list[str]:
    """`v{i}` must be exactly of the scalar type (an int stands for a float, converted)."""
    if tp is float:
        return [f"{indent}if v{i}.__class__ is not float:", f"{indent}    if v{i}.__class__ is not int:",
                f"{indent}        raise Doubt", f"{indent}    v{i} = float(v{i})"]
    return [f"{indent}if v{i}.__class__ is not {tp.__name__}:", f"{indent}    raise Doubt"]


def _called(tp: type) -> Converter:
    """A dataclass whose `__init__` does more than store its fields: converted, then built by calling it."""
    hints = type_hints(tp)
    spec = [(f.name, converter(hints[f.name]), f.default is dataclasses.MISSING and
             f.default_factory is dataclasses.MISSING) for f in dataclasses.fields(tp)]

    def convert(data: Any, reason: str | None) -> Any:
        if data.__class__ is not dict:
            raise _refuse(data)
        reasons = data.get(UNKNOWN_KEY) or {}
        if reasons.__class__ is not dict:
            raise Doubt
        values: dict[str, Any] = {}
        try:
            for name, conv, required in spec:
                value = data.get(name, _MISSING)
                if value is _MISSING:
                    if required:
                        raise Doubt
                    continue
                why = reasons.get(name)
                if why is not None and why.__class__ is not str:
                    raise Doubt
                values[name] = conv(value, why)
            return tp(**values)
        except (No, ValueError, TypeError):
            raise Doubt from None
    return convert
