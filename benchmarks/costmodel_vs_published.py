"""The decode cost model against published per-token decode latencies: residual per point, and median / p90
|error| on per-token latency and on TP-scaling ratios (TP=N / lowest TP of the same series), on the
calibration part and on the held-back part.

    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py            # the table with the shipped constants
    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py --fit      # refit the open constants first
    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py --summary  # statistics only

Data, conversions and the split: benchmarks/published.py (and data/published_*.{csv,yaml}). Only the constants
in OPEN are fitted, on calibration points only (least squares on log(predicted / published), latencies and
ratios); everything else comes from a cited source in tpdoctor/advice/*. `--fit` prints the fitted values;
they are copied by hand into the modules, so the default run reproduces the shipped model.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from published import Point, points, series_groups  # noqa: E402

from tpdoctor.advice import collectives, decode, engines, hardware, quant  # noqa: E402

# (module, attribute, lower bound, upper bound): the constants the physics leaves open.
OPEN = [
    (hardware, "HBM_EFFICIENCY", 0.6, 0.95),
    (engines, "LAYER_US", 0.0, 80.0),
    (collectives, "CUSTOM_US", 2.0, 30.0),
    (collectives, "NCCL_BASE_US", 5.0, 60.0),
    (quant, "INT8_WEIGHT_ONLY_EFF", 0.4, 1.0),
    (quant, "INT4_WEIGHT_ONLY_EFF", 0.3, 1.0),
    (engines, "EAGER_LAYER_US", 50.0, 1500.0),
]


def predict(p: Point) -> float:
    link = decode.Link(p.path, p.busbw_gbps, "nominal", p.local) if p.path else None
    return decode.step(p.spec, fmt=p.fmt, gpu=p.gpu, tp=p.tp, batch=p.batch, context=p.context, link=link,
                       eng=p.engine, kv_dtype=p.kv_dtype, prefill_tokens=p.prefill_tokens).step_ms


def ratio_pairs(pts: Sequence[Point]) -> list[tuple[Point, Point]]:
    """(point, the lowest-TP point of its series) for every TP above the series' lowest."""
    out = []
    for group in series_groups(list(pts)).values():
        base = group[0]
        out += [(p, base) for p in group if p.tp > base.tp]
    return out


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def stats(pts: Sequence[Point]) -> dict[str, float]:
    lat = [abs(predict(p) / p.step_ms - 1) for p in pts]
    rat = []
    for p, base in ratio_pairs(pts):
        pub = p.step_ms / base.step_ms
        rat.append(abs(predict(p) / predict(base) / pub - 1))
    return {"n": len(lat), "lat_median": pct(lat, 0.5), "lat_p90": pct(lat, 0.9), "n_ratio": len(rat),
            "ratio_median": pct(rat, 0.5), "ratio_p90": pct(rat, 0.9)}


def _loss(pts: Sequence[Point]) -> float:
    lat = [math.log(predict(p) / p.step_ms) ** 2 for p in pts]
    rat = [math.log(predict(p) / predict(b) / (p.step_ms / b.step_ms)) ** 2 for p, b in ratio_pairs(pts)]
    return statistics.fmean(lat) + statistics.fmean(rat) if rat else statistics.fmean(lat)


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


def fit(calibration: Sequence[Point]) -> dict[str, float]:
    def apply(x: list[float]) -> None:
        for (mod, name, lo, hi), v in zip(OPEN, x):
            setattr(mod, name, min(max(v, lo), hi))

    def f(x: list[float]) -> float:
        apply(x)
        return _loss(calibration)

    x0 = [getattr(mod, name) for mod, name, _, _ in OPEN]
    best = nelder_mead(f, x0, [(hi - lo) / 10 for _, _, lo, hi in OPEN])
    best = nelder_mead(f, best, [(hi - lo) / 40 for _, _, lo, hi in OPEN])
    apply(best)
    return {name: getattr(mod, name) for mod, name, _, _ in OPEN}


def table(pts: Sequence[Point]) -> None:
    print(f"{'id':5} {'split':5} {'source':24} {'model':14} {'fmt':8} {'GPU':14} {'path':5} {'TP':>2} {'B':>4} "
          f"{'pub ms':>8} {'pred ms':>8} {'resid':>6}  derivation")
    for p in sorted(pts, key=lambda p: (p.split, p.source, p.model, p.fmt, p.gpu_name, p.batch, p.tp)):
        pred = predict(p)
        print(f"{p.id:5} {p.split[:5]:5} {p.source[:24]:24} {p.model[:14]:14} {p.fmt[:8]:8} {p.gpu_name[:14]:14} "
              f"{(p.path or '-')[:5]:5} {p.tp:>2} {p.batch:>4} {p.step_ms:>8.2f} {pred:>8.2f} "
              f"{pred / p.step_ms - 1:>+6.0%}  {p.derivation}")


def ratio_table(pts: Sequence[Point]) -> None:
    print(f"\n{'id':5} {'split':5} {'series':60} {'TP':>5} {'pub ratio':>9} {'pred':>6} {'resid':>6}")
    for p, b in sorted(ratio_pairs(pts), key=lambda pb: (pb[0].split, pb[0].series, pb[0].tp)):
        pub = p.step_ms / b.step_ms
        pred = predict(p) / predict(b)
        label = f"{p.source[:18]} {p.model} {p.fmt} {p.gpu_name} B={p.batch}"
        print(f"{p.id:5} {p.split[:5]:5} {label[:60]:60} {p.tp:>2}/{b.tp:<2} {pub:>9.3f} {pred:>6.3f} "
              f"{pred / pub - 1:>+6.0%}")


def summary(pts: Sequence[Point], left: Sequence[tuple[str, str]]) -> None:
    for split in ("calibration", "holdout"):
        part = [p for p in pts if p.split == split]
        s = stats(part)
        fams = sorted({p.family for p in part})
        print(f"{split:11}: {s['n']:3d} points from {len({p.source for p in part})} source documents "
              f"({len(fams)} families: {', '.join(fams)})")
        print(f"{'':13}per-token latency |error|: median {s['lat_median']:.1%}, p90 {s['lat_p90']:.1%}; "
              f"TP-scaling ratio |error| ({s['n_ratio']} ratios): median {s['ratio_median']:.1%}, "
              f"p90 {s['ratio_p90']:.1%}")
    hold = [p for p in pts if p.split == "holdout"]
    vs1 = []
    for p, b in ratio_pairs(hold):
        if b.tp == 1:
            vs1.append(abs(predict(p) / predict(b) / (p.step_ms / b.step_ms) - 1))
    print(f"  holdout, TP=N / TP=1 only ({len(vs1)} ratios): median {pct(vs1, 0.5):.1%}, p90 {pct(vs1, 0.9):.1%} "
          "(series without a TP=1 point use their lowest TP above)")
    for label, sel in (("holdout, batch 1", [p for p in hold if p.batch == 1]),
                       ("holdout, batch > 1", [p for p in hold if p.batch > 1]),
                       ("holdout, TP > 1 on PCIe", [p for p in hold if p.path in ("NODE", "SYS")]),
                       ("holdout, eager engine", [p for p in hold if not p.engine.graphs])):
        s = stats(sel)
        print(f"  {label:24} {s['n']:3d} points: latency median {s['lat_median']:.1%} p90 {s['lat_p90']:.1%}"
              + (f"; ratio median {s['ratio_median']:.1%} ({s['n_ratio']})" if s["n_ratio"] else ""))
    by_reason: dict[str, int] = {}
    for _, why in left:
        by_reason[why.split(":")[0]] = by_reason.get(why.split(":")[0], 0) + 1
    print(f"left out: {len(left)} rows — " + "; ".join(f"{k} ({v})" for k, v in sorted(by_reason.items())))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="refit the open constants on the calibration part first")
    ap.add_argument("--summary", action="store_true", help="statistics only")
    args = ap.parse_args(argv)
    pts, left = points()
    if args.fit:
        fitted = fit([p for p in pts if p.split == "calibration"])
        print("fitted on the calibration part: " + ", ".join(f"{k} = {v:.4g}" for k, v in fitted.items()))
    if not args.summary:
        table(pts)
        ratio_table(pts)
        print()
    summary(pts, left)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
