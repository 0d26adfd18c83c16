"""How far a prediction can be trusted, and when two options are too close to call.

Every prediction carries an 80% interval: the 10th and 90th percentiles of log(predicted / published) that
leave-one-family-out cross-validation gave inside the calibration families, for the regime it falls in —
TP=1, TP over NVLink, TP over PCIe or between nodes, an eager engine (data/costmodel.yaml `intervals`,
written by `benchmarks/costmodel_vs_published.py --fit --write`). The held-out families never shape them;
docs/costmodel.md reports how often the held-out measurements fall inside.

Two options on one box share most of their errors (the same GPU, weights and engine), so they are compared by
the error of a *ratio* of two predictions (`ratio`: the same cross-validation on TP-scaling ratios): option A
is called better than B only when A/B is beyond that interval; otherwise the two are too close to call, and a
finding says so with both numbers.
"""

from __future__ import annotations

import math

from tpdoctor.advice.params import P
from tpdoctor.model.topology import PathKind, path_kind


def regime(tp: int, path: str | None, graphs: bool) -> str:
    """tp1 | tp_nvlink | tp_pcie | eager — the key of the interval a prediction takes."""
    if not graphs:
        return "eager"
    if tp <= 1 or not path:
        return "tp1"
    return "tp_nvlink" if path_kind(path) is PathKind.NV else "tp_pcie"


def interval(value: float, key: str) -> tuple[float, float]:
    """(low, high) of the 80% interval of a predicted time `value` in regime `key`."""
    lo, hi = P.intervals.get(key, (0.0, 0.0))
    return value * math.exp(lo), value * math.exp(hi)


def ratio_band() -> tuple[float, float]:
    """The 80% interval of the error of a ratio of two predictions on one box, as factors (e.g. 0.89, 1.12)."""
    lo, hi = P.intervals.get("ratio", (0.0, 0.0))
    return math.exp(lo), math.exp(hi)


def clearly_less(a: float, b: float) -> bool:
    """`a` is below `b` across the ratio interval (both are times, or both negated rates)."""
    lo, hi = ratio_band()
    margin = max(hi, 1 / lo) if lo > 0 else hi
    if b > 0:
        return a * margin < b
    return a < b * margin if b < 0 else a < b


def call(a: float, b: float) -> str:
    """'a', 'b' or 'close': which of two predicted times is smaller, when the interval allows a call."""
    if clearly_less(a, b):
        return "a"
    if clearly_less(b, a):
        return "b"
    return "close"
