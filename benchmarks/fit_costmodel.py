"""Fit the cost model's open constants on the calibration families, and cross-validate them family by family.

- `fit(points)`: least squares on log(predicted / published) of per-token latencies plus the same for TP-scaling
  ratios (TP=N / lowest TP of a series), Nelder-Mead within physical bounds (OPEN).
- `cross_validate(points)`: leave one calibration family out, refit on the rest, predict the family left out;
  the residuals by regime give the 80% intervals `predict` prints (params.P.intervals), and those of the
  ratios the band within which two options are too close to call.
- `write(...)`: data/costmodel.yaml with the fitted values, the families, the date and the intervals.

Only calibration points ever enter here (costmodel_vs_published.py passes them); predictions use the same
resolution as `tpdoctor predict` (deploy/predict.plan), without the memory sizing a refit does not need.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from published import Point, cli_args, series_groups

from tpdoctor.advice import params
from tpdoctor.advice.costmodel import Prediction
from tpdoctor.deploy import predict as dpredict

ROOT = Path(__file__).resolve().parents[1]
# (constant, lower bound, upper bound): what the physics leaves open (data/costmodel.yaml says why each)
OPEN = [
    ("hbm_efficiency", 0.6, 0.95), ("layer_us", 0.0, 120.0), ("step_us_python", 0.0, 4000.0),
    ("step_us_native", 0.0, 2000.0), ("tp_step_us", 0.0, 4000.0), ("custom_us", 2.0, 30.0),
    ("nccl_base_us", 5.0, 60.0), ("gemm_half_columns", 0.0, 8192.0), ("int8_torch_eff", 0.4, 1.0),
    ("int4_torch_eff", 0.3, 1.0), ("awq_legacy_eff", 0.2, 1.0), ("moe_expert_us", 0.0, 60.0),
    ("eager_layer_us", 50.0, 1500.0),
]
_plans: dict[str, dpredict.Plan] = {}


def request(p: Point) -> dpredict.PredictRequest:
    """The request the CLI builds from `cli_args(p)` (tests keep the two equal)."""
    serving = p.serving
    prefill = (p.batch - 1) * serving[0] / serving[1] if serving else 0.0
    context = serving[0] + serving[1] // 2 if serving else p.context
    return dpredict.PredictRequest(model=p.model_arg, tp=p.tp, gpu=p.gpu, dtype=p.fmt, batch=p.batch,
                                   context=context, path=p.path, engine=p.engine, engine_version=p.engine_version,
                                   kv_dtype="bf16" if p.kv_dtype == "auto" else p.kv_dtype, prefill_tokens=prefill)


def prediction(p: Point) -> Prediction:
    if p.id not in _plans:
        _plans[p.id] = dpredict.plan(request(p))
    return dpredict.group_prediction(_plans[p.id], p.tp, sized=False)


def predict(p: Point) -> float:
    return prediction(p).per_token_ms


def ratio_pairs(pts: Sequence[Point]) -> list[tuple[Point, Point]]:
    """(point, the lowest-TP point of its series) for every TP above the series' lowest."""
    out = []
    for group in series_groups(list(pts)).values():
        out += [(p, group[0]) for p in group if p.tp > group[0].tp]
    return out


def loss(pts: Sequence[Point]) -> float:
    lat = [math.log(predict(p) / p.step_ms) ** 2 for p in pts]
    rat = [math.log(predict(p) / predict(b) / (p.step_ms / b.step_ms)) ** 2 for p, b in ratio_pairs(pts)]
    return statistics.fmean(lat) + (statistics.fmean(rat) if rat else 0.0)


def nelder_mead(f: Callable[[list[float]], float], x0: list[float], steps: list[float],
                iters: int = 600) -> list[float]:
    simplex = [list(x0)] + [[x + (s if i == j else 0.0) for j, x in enumerate(x0)] for i, s in enumerate(steps)]
    vals = [f(x) for x in simplex]
    for _ in range(iters):
        order = sorted(range(len(simplex)), key=lambda i: vals[i])
        simplex, vals = [simplex[i] for i in order], [vals[i] for i in order]
        centroid = [statistics.fmean(c) for c in zip(*simplex[:-1])]
        worst = simplex[-1]
        refl = [c + (c - w) for c, w in zip(centroid, worst)]
        fr = f(refl)
        if fr < vals[0]:
            exp = [c + 2 * (c - w) for c, w in zip(centroid, worst)]
            fe = f(exp)
            simplex[-1], vals[-1] = (exp, fe) if fe < fr else (refl, fr)
        elif fr < vals[-2]:
            simplex[-1], vals[-1] = refl, fr
        else:
            con = [c + 0.5 * (w - c) for c, w in zip(centroid, worst)]
            fc = f(con)
            if fc < vals[-1]:
                simplex[-1], vals[-1] = con, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (x - b) for b, x in zip(best, s)] for s in simplex[1:]]
                vals = [vals[0]] + [f(s) for s in simplex[1:]]
    return simplex[min(range(len(vals)), key=lambda i: vals[i])]


def _apply(x: Sequence[float]) -> None:
    params.override(**{name: min(max(v, lo), hi) for (name, lo, hi), v in zip(OPEN, x)})


def fit(calibration: Sequence[Point], x0: Sequence[float] | None = None, iters: int = 600) -> dict[str, float]:
    """Fit OPEN on these points; the fitted values stay applied (params.P) and are returned."""
    def f(x: list[float]) -> float:
        _apply(x)
        return loss(calibration)

    start = list(x0) if x0 is not None else [getattr(params.P, name) for name, _, _ in OPEN]
    best = nelder_mead(f, start, [(hi - lo) / 10 for _, lo, hi in OPEN], iters)
    best = nelder_mead(f, best, [(hi - lo) / 40 for _, lo, hi in OPEN], iters)
    _apply(best)
    return {name: getattr(params.P, name) for name, _, _ in OPEN}


def cross_validate(calibration: Sequence[Point], iters: int = 300) -> dict[str, Any]:
    """Leave-one-family-out residuals (log predicted / published) by regime, and of TP-scaling ratios."""
    full = [getattr(params.P, name) for name, _, _ in OPEN]
    by_regime: dict[str, list[float]] = defaultdict(list)
    ratios: list[float] = []
    for fam in sorted({p.family for p in calibration}):
        rest = [p for p in calibration if p.family != fam]
        out = [p for p in calibration if p.family == fam]
        fit(rest, full, iters)
        for p in out:
            by_regime[prediction(p).regime].append(math.log(predict(p) / p.step_ms))
        ratios += [math.log(predict(p) / predict(b) / (p.step_ms / b.step_ms)) for p, b in ratio_pairs(out)]
    _apply(full)
    everything = [r for v in by_regime.values() for r in v]
    table = {k: _quantiles(v if len(v) >= 8 else everything) | {"n": len(v)} for k, v in by_regime.items()}
    for k in ("tp1", "tp_nvlink", "tp_pcie", "eager"):
        table.setdefault(k, _quantiles(everything) | {"n": 0})
    table["ratio"] = _quantiles(ratios) | {"n": len(ratios)}
    return table


def _quantiles(v: Sequence[float]) -> dict[str, float]:
    s = sorted(v)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [0.0] * 9
    return {"q10": round(q[0], 4), "q90": round(q[-1], 4)}


def write(fitted: dict[str, float], intervals: dict[str, Any], calibration: Sequence[Point]) -> Path:
    path = ROOT / "tpdoctor" / "data" / "costmodel.yaml"
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    head = text[:text.index("fit:")]
    data["fit"] = {"date": dt.date.today().isoformat(), "families": sorted({p.family for p in calibration}),
                   "points": len(calibration), "loss": round(loss(calibration), 5)}
    for name, v in fitted.items():
        data["constants"][name]["value"] = round(float(v), 4)
    data["intervals"] = intervals
    body = yaml.safe_dump({k: data[k] for k in ("fit", "constants")}, sort_keys=False, width=120)
    rest = yaml.safe_dump({k: data[k] for k in data if k not in ("fit", "constants")}, sort_keys=False, width=120)
    path.write_text(head + body + rest, encoding="utf-8")
    return path


__all__ = ["OPEN", "cli_args", "cross_validate", "fit", "loss", "predict", "prediction", "ratio_pairs", "request",
           "write"]
