"""Lossless dataclass <-> JSON-able dict conversion for the `tpdoctor/v1` contract.

`Unknown` fields are written as `null` and their reasons collected in the object's `unknown` map, so
consumers that do not care see plain nulls while a round-trip restores every `Unknown(reason)`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any, Union

from tpdoctor.unknown import Unknown

UNKNOWN_KEY = "unknown"


def to_data(obj: Any) -> Any:
    """Turn a dataclass tree into JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        unknown: dict[str, str] = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("json") is False:
                continue
            value = getattr(obj, f.name)
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


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_data(cls: Any, data: Any, where: str = "$") -> Any:
    """Rebuild `cls` from data written by `to_data`. Raises ValueError naming the JSON path on a mismatch."""
    return _convert(cls, data, where, None)


def _convert(tp: Any, data: Any, where: str, unknown_reason: str | None) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if Unknown in args and data is None and unknown_reason is not None:
            return Unknown(unknown_reason)
        if data is None and type(None) in args:
            return None
        if data is None and Unknown in args:
            return Unknown("unknown")
        last: Exception | None = None
        for arg in args:
            if arg in (Unknown, type(None)):
                continue
            try:
                return _convert(arg, data, where, None)
            except (ValueError, TypeError) as exc:
                last = exc
        raise ValueError(f"{where}: {data!r} does not match {tp}") from last
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        hints = _hints(tp)
        reasons = data.get(UNKNOWN_KEY) or {}
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(tp):
            if f.name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ValueError(f"{where}: missing field {f.name!r}")
                continue
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}", reasons.get(f.name))
        return tp(**kwargs)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]", None) for i, v in enumerate(data))
        pairs = enumerate(zip(args, data, strict=False))
        return tuple(_convert(a, v, f"{where}[{i}]", None) for i, (a, v) in pairs)
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {type(data).__name__}")
        return [_convert(arg, v, f"{where}[{i}]", None) for i, v in enumerate(data)]
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        return {k: _convert(vt, v, f"{where}.{k}", None) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError as exc:
            raise ValueError(f"{where}: {data!r} is not one of {[m.value for m in tp]}") from exc
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"{where}: expected a number, got {data!r}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"{where}: expected an integer, got {data!r}")
        return data
    if tp in (str, bool):
        if not isinstance(data, tp):
            raise ValueError(f"{where}: expected {tp.__name__}, got {data!r}")
        return data
    if tp is type(None):
        if data is not None:
            raise ValueError(f"{where}: expected null, got {data!r}")
        return None
    raise TypeError(f"{where}: cannot convert to {tp}")
