"""`Unknown` is a value: a field that could not be read carries the reason, never a silent None or 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class Unknown:
    """A value that could not be determined, with the reason (e.g. the NVML error name)."""

    reason: str = "unknown"

    def __bool__(self) -> bool:  # an Unknown never passes for a truthy fact
        return False

    def __repr__(self) -> str:
        return f"Unknown({self.reason!r})"


Maybe = Union[T, Unknown]  # noqa: UP007  (a generic alias; `T | Unknown` is not subscriptable)


def is_known(value: object) -> bool:
    return not isinstance(value, Unknown)


def known_or(value: Maybe[T], default: T) -> T:
    return default if isinstance(value, Unknown) else value
