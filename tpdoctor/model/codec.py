"""Lossless dataclass <-> JSON-able dict conversion for the `tpdoctor/v1` contract.

`Unknown` fields are written as `null` and their reasons collected in the object's `unknown` map, so
consumers that do not care see plain nulls while a round-trip restores every `Unknown(reason)`.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

from tpdoctor.model import fastcodec
from tpdoctor.model.fastcodec import UNKNOWN_KEY
from tpdoctor.model.hints import is_union, type_hints
from tpdoctor.model.unknown import Unknown

__all__ = ["UNKNOWN_KEY", "from_data", "short", "to_data"]


def to_data(obj: Any) -> Any:
    """Turn a dataclass tree into JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        unknown: dict[str, str] = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("json") is False:
                continue
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_none"):  # an optional addition older readers never saw
                continue
            if isinstance(value, Unknown):
                out[f.name] = None
                unknown[f.name] = value.reason
            else:
                out[f.name] = to_data(value)
        if unknown:
            out[UNKNOWN_KEY] = unknown
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, Unknown):
        return None
    return obj


def from_data(cls: Any, data: Any, where: str = "$") -> Any:
    """Rebuild `cls` from data written by `to_data`. Raises ValueError naming the JSON path on a mismatch.

    Two passes, as `contract.validate` does: a fast one that builds the value and keeps no JSON path (a fleet
    reads thousands of reports), and on any doubt the exact one, which gives the same value or the error
    with its path. The fast pass accepts only what the exact one accepts, and builds the same value."""
    try:
        return fastcodec.converter(cls)(data, None)
    except Exception:  # noqa: BLE001 - anything the fast pass cannot vouch for is decided by the exact pass
        return _converter(cls)(data, where, None)


Converter = Callable[[Any, str, "str | None"], Any]


@cache
def _converter(tp: Any) -> Converter:
    """A converter for one type, built once: fleet merges read thousands of reports."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return lambda data, where, reason: data
    if is_union(origin):
        return _union(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp)
    if origin is tuple:
        return _tuple(tp)
    if origin is list:
        (arg,) = typing.get_args(tp)
        item = _converter(arg)

        def convert_list(data: Any, where: str, reason: str | None) -> Any:
            _expect(data, list, where)
            return [item(v, f"{where}[{i}]", None) for i, v in enumerate(data)]
        return convert_list
    if origin is dict:
        value = _converter(typing.get_args(tp)[1])

        def convert_dict(data: Any, where: str, reason: str | None) -> Any:
            _expect(data, dict, where)
            return {k: value(v, f"{where}.{k}", None) for k, v in data.items()}
        return convert_dict
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if tp in (int, float, str, bool, type(None)):
        return _scalar(tp)
    raise TypeError(f"cannot convert to {tp}")


def _expect(data: Any, kind: type, where: str) -> None:
    if not isinstance(data, kind):
        name = "a list" if kind is list else "an object"
        raise ValueError(f"{where}: expected {name}, got {type(data).__name__}")


def _union(tp: Any) -> Converter:
    args = typing.get_args(tp)
    allows_unknown = Unknown in args
    allows_none = type(None) in args
    members = [_converter(a) for a in args if a not in (Unknown, type(None))]

    def convert(data: Any, where: str, reason: str | None) -> Any:
        if data is None:
            if allows_unknown and (reason is not None or not allows_none):
                return Unknown(reason if reason is not None else "unknown")
            if allows_none:
                return None
        last: Exception | None = None
        for member in members:
            try:
                return member(data, where, None)
            except (ValueError, TypeError) as exc:
                last = exc
        raise ValueError(f"{where}: {short(data)} does not match {_type_name(tp)}") from last
    return convert


def _dataclass(tp: type) -> Converter:
    hints = type_hints(tp)
    spec = [
        (f.name, _converter(hints[f.name]),
         f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(tp)
    ]

    def convert(data: Any, where: str, reason: str | None) -> Any:
        _expect(data, dict, where)
        reasons = data.get(UNKNOWN_KEY) or {}
        if not isinstance(reasons, dict):
            raise ValueError(f"{where}.{UNKNOWN_KEY}: expected an object of reasons, got {type(reasons).__name__}")
        kwargs: dict[str, Any] = {}
        for name, conv, required in spec:
            if name not in data:
                if required:
                    raise ValueError(f"{where}: missing field {name!r}")
                continue
            why = reasons.get(name)
            if why is not None and not isinstance(why, str):
                raise ValueError(f"{where}.{UNKNOWN_KEY}.{name}: expected a reason (text), got {short(why)}")
            kwargs[name] = conv(data[name], f"{where}.{name}", why)
        return tp(**kwargs)
    return convert


def _tuple(tp: Any) -> Converter:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item = _converter(args[0])

        def convert_var(data: Any, where: str, reason: str | None) -> Any:
            _expect(data, list, where)
            return tuple(item(v, f"{where}[{i}]", None) for i, v in enumerate(data))
        return convert_var
    items = [_converter(a) for a in args]

    def convert_fixed(data: Any, where: str, reason: str | None) -> Any:
        _expect(data, list, where)
        if len(data) != len(items):
            raise ValueError(f"{where}: expected {len(items)} items, got {len(data)}")
        return tuple(c(v, f"{where}[{i}]", None) for i, (c, v) in enumerate(zip(items, data)))
    return convert_fixed


def _enum(tp: type[enum.Enum]) -> Converter:
    def convert(data: Any, where: str, reason: str | None) -> Any:
        try:
            return tp(data)
        except ValueError:
            raise ValueError(f"{where}: {short(data)} is not one of {[m.value for m in tp]}") from None
    return convert


def _scalar(tp: type) -> Converter:
    def convert(data: Any, where: str, reason: str | None) -> Any:
        if tp is float and isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
        if tp is int and isinstance(data, int) and not isinstance(data, bool):
            return data
        if tp in (str, bool) and isinstance(data, tp):
            return data
        if tp is type(None) and data is None:
            return None
        raise ValueError(f"{where}: expected {tp.__name__}, got {short(data)}")
    return convert


def short(value: Any, limit: int = 60) -> str:
    """A value for an error message: a hostile input can hold a megabyte string or a 4,000-digit number."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a {len(str(abs(value)))}-digit number"
    if isinstance(value, (dict, list)):
        return f"an {'object' if isinstance(value, dict) else 'array'} of {len(value)}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _type_name(tp: Any) -> str:
    """`Maybe[int]` reads as `int or null`, not as `typing.Union[int, tpdoctor.model.unknown.Unknown]`."""
    names = [getattr(a, "__name__", str(a)) for a in typing.get_args(tp)]
    names = ["null" if n in ("Unknown", "NoneType") else n for n in names]
    return " or ".join(dict.fromkeys(names))
