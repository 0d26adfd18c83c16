"""The cost model's constants, from `data/costmodel.yaml`: fitted ones (written by
`benchmarks/costmodel_vs_published.py --fit --write` from the calibration families only), sourced ones, the
NCCL hop table, NCCL's LL-protocol ceilings and the cross-validated prediction intervals by regime.

`P` is the one instance the model reads. The benchmark's fit changes it through `override`, which also empties
the memo of decode steps (a step is a pure function of its inputs *and* these constants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tpdoctor.model.topology import PathKind


@dataclass
class Params:
    hbm_efficiency: float = 0.838
    matmul_efficiency: float = 0.7
    gemm_half_columns: float = 0.0
    layer_us: float = 56.9
    step_us_python: float = 0.0
    step_us_native: float = 0.0
    tp_step_us: float = 0.0
    eager_layer_us: float = 797.0
    custom_us: float = 5.1
    nccl_base_us: float = 38.1
    net_latency_us: float = 47.0
    int8_torch_eff: float = 0.784
    int4_torch_eff: float = 0.751
    awq_legacy_eff: float = 1.0
    moe_expert_us: float = 0.0
    nccl_hop_us: dict[PathKind, float] = field(default_factory=dict)
    ll_max_gbps: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # regime -> (q10, q90) of log error
    fit: dict[str, Any] = field(default_factory=dict)


CONSTANTS = tuple(f.name for f in fields(Params) if f.type in ("float", float))


@lru_cache(maxsize=1)
def raw() -> dict[str, Any]:
    text = resources.files("tpdoctor.data").joinpath("costmodel.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(yaml.load(text, Loader=loader))  # noqa: S506 - a safe loader


def load() -> Params:
    d = raw()
    p = Params(fit=dict(d.get("fit") or {}))
    for name, entry in (d.get("constants") or {}).items():
        if name in CONSTANTS:
            setattr(p, name, float(entry["value"]))
    p.nccl_hop_us = {PathKind(k): float(v) for k, v in (d.get("nccl_hop_us") or {}).items()}
    p.ll_max_gbps = {k: float(v) for k, v in (d.get("ll_max_gbps") or {}).items()}
    p.intervals = {k: (float(v["q10"]), float(v["q90"])) for k, v in (d.get("intervals") or {}).items()}
    return p


P = load()
_on_change: list[Callable[[], None]] = []


def on_change(hook: Callable[[], None]) -> None:
    """Register a memo to empty when the constants change (decode.step)."""
    _on_change.append(hook)


def override(**values: float) -> None:
    """Set constants (the benchmark's fit); unknown names raise."""
    for name, v in values.items():
        if name not in CONSTANTS:
            raise KeyError(name)
        setattr(P, name, float(v))
    for hook in _on_change:
        hook()


def snapshot() -> dict[str, float]:
    return {name: float(getattr(P, name)) for name in CONSTANTS}
