"""Bounds on the numbers a user or an environment variable sets, so that no setting can make a run hang
or its arithmetic meaningless. A value outside them (`inf`, `nan`, negative, absurd) is refused in one line
naming the option or variable and the range, before anything runs.

Each bound is wider than any honest use and narrower than harm:
- a probe command's timeout (`--timeout`, $TPDOCTOR_PROBE_TIMEOUT): 0.1 s to 600 s; nvidia-smi answers in
  well under 10 s on a sane node, a hung driver never answers, and cron must get its slot back;
- the whole NVML read ($TPDOCTOR_NVML_DEADLINE): 1 s to 600 s, for the same reason;
- a benchmark step or stall (`bench --timeout`): 0.05 s to 3,600 s; the ranks' start-up
  (`--startup-timeout`, importing torch and the rendezvous on every node): 1 s to 3,600 s;
- a fleet report's age limit (`--max-age`): at most 3,650 days (Python's timedelta overflows far beyond).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpdoctor.model.errors import TpdError


class SettingError(TpdError):
    """A setting out of its bounds: one line naming it and the range."""


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    unit: str = "seconds"

    def text(self) -> str:
        return f"{self.low:g} to {self.high:,g} {self.unit}"


PROBE_TIMEOUT = Bounds(0.1, 600.0)
NVML_DEADLINE = Bounds(1.0, 600.0)
BENCH_STEP = Bounds(0.05, 3600.0)
BENCH_STARTUP = Bounds(1.0, 3600.0)
MAX_AGE_SECONDS = 3650 * 86400


def number(raw: object, name: str, bounds: Bounds) -> float:
    """`raw` (text or number) as a finite float within `bounds`; SettingError naming `name` otherwise."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SettingError(f"{name} {raw!r}: not a number of {bounds.unit} ({bounds.text()})") from None
    if not math.isfinite(value):
        why = "every wait has an end: a hung nvidia-smi or rank must not hold the run forever"
        raise SettingError(f"{name} {raw!r}: not a finite number of {bounds.unit} ({bounds.text()})",
                           hint=why if bounds.unit == "seconds" else None)
    if not bounds.low <= value <= bounds.high:
        raise SettingError(f"{name} {raw!r}: out of range ({bounds.text()})")
    return value
