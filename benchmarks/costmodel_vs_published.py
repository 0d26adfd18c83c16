"""The decode cost model against published per-token decode latencies, through the CLI a user has.

    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py           # held-out: every residual + scores
    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py --all           # calibration points too
    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py --tpdoctor /tmp/main-24 --main
                                                       # another checkout's CLI, with only the options main has
    PYTHONPATH=. .venv/bin/python benchmarks/costmodel_vs_published.py --fit --write   # refit on calibration,
                                   # cross-validate family by family, write tpdoctor/data/costmodel.yaml

Data, conversions, families and the frozen split: benchmarks/published.py, conversions.py, data/split.yaml.
Every prediction here is `tpdoctor predict MODEL --gpu … --tp … --json` (benchmarks/cli_driver.py); `--fit`
touches calibration families only (fit_costmodel.py). Scores: per-token |error| median and p90, TP-scaling
ratios (TP=N / lowest TP of a series), the winner of every comparison the sources make (consecutive TP sizes
of a series; a published gap under `tie_pct` is a tie) — right, called too close, or wrong — and how many
published values fall inside the printed 80% interval.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_driver  # noqa: E402
import fit_costmodel  # noqa: E402
from published import Point, cli_args, points, series_groups, split_table  # noqa: E402

from tpdoctor.advice import uncertainty  # noqa: E402

MAIN_TIE = 0.005  # main at a090e98 calls options within 0.5% the same (advice/objective.py TIE)


def predictions(pts: Sequence[Point], root: str | None = None, main: bool = False) -> list[dict[str, Any]]:
    lines = [cli_args(p, main=main) for p in pts]
    if root is None:
        return cli_driver.run(lines)
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("cli_driver.py"))], input=json.dumps(lines),
                          capture_output=True, text=True, env=env, timeout=600, check=True)
    return list(json.loads(proc.stdout))


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def comparisons(pts: Sequence[Point]) -> list[tuple[Point, Point]]:
    """Consecutive TP sizes of every series: the comparisons the sources make."""
    out = []
    for group in series_groups(list(pts)).values():
        out += list(zip(group, group[1:]))
    return out


def winner(a: float, b: float, tie: float) -> str:
    return "tie" if abs(a - b) / min(a, b) < tie else ("a" if a < b else "b")


def model_call(a: float, b: float, main: bool) -> str:
    if main:
        return "close" if abs(a - b) / min(a, b) < MAIN_TIE else ("a" if a < b else "b")
    return uncertainty.call(a, b)


def outcome(pub: str, call: str) -> str:
    if call == "close":
        return "right" if pub == "tie" else "too close"
    return "right" if call == pub else "wrong"


def score(pts: Sequence[Point], preds: Sequence[dict[str, Any]], main: bool = False) -> dict[str, Any]:
    ms = {p.id: r.get("per_token_ms") for p, r in zip(pts, preds)}
    ok = [p for p in pts if ms[p.id]]
    lat = [abs(ms[p.id] / p.step_ms - 1) for p in ok]  # type: ignore[operator]
    rat = [abs(ms[p.id] / ms[b.id] / (p.step_ms / b.step_ms) - 1)  # type: ignore[operator]
           for p, b in fit_costmodel.ratio_pairs(ok)]
    tie = float(split_table()["tie_pct"]) / 100
    outcomes = [outcome(winner(a.step_ms, b.step_ms, tie), model_call(ms[a.id], ms[b.id], main))  # type: ignore[arg-type]
                for a, b in comparisons(ok)]
    inside = [r["per_token_ms_low"] <= p.step_ms <= r["per_token_ms_high"] for p, r in zip(pts, preds)
              if "per_token_ms_low" in r]
    return {"n": len(ok), "failed": len(pts) - len(ok), "lat_median": pct(lat, 0.5), "lat_p90": pct(lat, 0.9),
            "n_ratio": len(rat), "ratio_median": pct(rat, 0.5), "ratio_p90": pct(rat, 0.9),
            "comparisons": len(outcomes), **{k: outcomes.count(k) for k in ("right", "too close", "wrong")},
            "coverage": sum(inside) / len(inside) if inside else None}


def table(pts: Sequence[Point], preds: Sequence[dict[str, Any]]) -> None:
    print(f"{'id':5} {'family':16} {'model':14} {'fmt':8} {'GPU':11} {'path':8} {'TP':>2} {'B':>4} "
          f"{'pub ms':>8} {'pred ms':>8} {'80% interval':>15} {'resid':>6}  derivation")
    for p, r in sorted(zip(pts, preds), key=lambda x: (x[0].family, x[0].series, x[0].tp)):
        if "per_token_ms" not in r:
            print(f"{p.id:5} {p.family[:16]:16} {p.model[:14]:14} prediction failed: {r.get('error')}")
            continue
        pred = r["per_token_ms"]
        band = (f"{r['per_token_ms_low']:.2f}-{r['per_token_ms_high']:.2f}" if "per_token_ms_low" in r else "-")
        print(f"{p.id:5} {p.family[:16]:16} {p.model[:14]:14} {p.fmt[:8]:8} {p.gpu[:11]:11} {(p.path or '-')[:8]:8} "
              f"{p.tp:>2} {p.batch:>4} {p.step_ms:>8.2f} {pred:>8.2f} {band:>15} {pred / p.step_ms - 1:>+6.0%}  "
              f"{p.derivation}")


def comparison_table(pts: Sequence[Point], preds: Sequence[dict[str, Any]], main: bool) -> None:
    ms = {p.id: r.get("per_token_ms") for p, r in zip(pts, preds)}
    tie = float(split_table()["tie_pct"]) / 100
    print(f"\n{'comparison':58} {'published ms':>15} {'predicted ms':>15} {'winner':>7} {'call':>6} outcome")
    for a, b in comparisons([p for p in pts if ms[p.id]]):
        pub, call = winner(a.step_ms, b.step_ms, tie), model_call(ms[a.id], ms[b.id], main)  # type: ignore[arg-type]
        name = {"a": f"TP={a.tp}", "b": f"TP={b.tp}", "tie": "tie", "close": "close"}
        label = f"{a.family} {a.model} {a.gpu} B={a.batch}: TP={a.tp} vs TP={b.tp}"
        print(f"{label[:58]:58} {a.step_ms:>7.2f}/{b.step_ms:<7.2f} {ms[a.id]:>7.2f}/{ms[b.id]:<7.2f} "
              f"{name[pub]:>7} {name[call]:>6} {outcome(pub, call)}")


def summary(label: str, s: dict[str, Any]) -> None:
    cov = f"; inside the 80% interval {s['coverage']:.0%}" if s.get("coverage") is not None else ""
    print(f"{label}: {s['n']} points ({s['failed']} not predicted); per-token |error| median {s['lat_median']:.1%}, "
          f"p90 {s['lat_p90']:.1%}; TP-scaling ({s['n_ratio']} ratios) median {s['ratio_median']:.1%}, "
          f"p90 {s['ratio_p90']:.1%}; winners ({s['comparisons']}): {s['right']} right, {s['too close']} too close, "
          f"{s['wrong']} wrong{cov}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="score the calibration families too")
    ap.add_argument("--tpdoctor", metavar="ROOT", help="score the tpdoctor checkout at ROOT (through its CLI)")
    ap.add_argument("--main", action="store_true", help="only the CLI options main at a090e98 has")
    ap.add_argument("--fit", action="store_true", help="refit on the calibration families and cross-validate")
    ap.add_argument("--write", action="store_true", help="with --fit: write tpdoctor/data/costmodel.yaml")
    ap.add_argument("--summary", action="store_true", help="statistics only")
    args = ap.parse_args(argv)
    pts, left = points()
    calib = [p for p in pts if p.split == "calibration"]
    if args.fit:
        fitted = fit_costmodel.fit(calib)
        print("fitted on the calibration families: " + ", ".join(f"{k} = {v:.4g}" for k, v in fitted.items()))
        intervals = fit_costmodel.cross_validate(calib)
        print("leave-one-family-out intervals: " + json.dumps(intervals))
        if args.write:
            print(f"written: {fit_costmodel.write(fitted, intervals, calib)}")
        return 0
    for split in (("calibration", "holdout") if args.all else ("holdout",)):
        part = [p for p in pts if p.split == split]
        preds = predictions(part, args.tpdoctor, args.main)
        if not args.summary:
            table(part, preds)
            comparison_table(part, preds, args.main)
            print()
        summary(split, score(part, preds, args.main))
    print(f"left out: {len(left)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
