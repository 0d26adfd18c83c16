"""All-pairs mode: round-robin rounds (disjoint pairs at once) against one pair at a time, 8 gloo ranks.

Both go through the runner exactly as `tpdoctor bench --pairs [--sequential]` does. Reports the rounds,
the wall time of each mode (spawn included, and measuring only: first `start` to last `result`), and the
mean pair busbw, which shows what concurrency costs when pairs share a bottleneck (here: 2 CPU cores).

    python benchmarks/bench_rounds.py [--ranks 8] [--sizes 64K,1M] [--iters 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tpdoctor.bench.launch import BenchOptions  # noqa: E402
from tpdoctor.bench.plan import plan_pairs  # noqa: E402
from tpdoctor.bench.runner import run_plan  # noqa: E402
from tpdoctor.model.sizes import parse_sizes  # noqa: E402


class Clock:
    """Times the measuring part: first `start` event to last `result` event."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event["event"] == "start" and self.first is None:
            self.first = now
        if event["event"] == "result":
            self.last = now

    @property
    def seconds(self) -> float:
        return (self.last or 0.0) - (self.first or 0.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ranks", type=int, default=8)
    p.add_argument("--sizes", default="64K,1M")
    p.add_argument("--iters", type=int, default=10)
    args = p.parse_args()
    options = BenchOptions(backend="gloo", sizes=parse_sizes(args.sizes), iters=args.iters, warmup=3,
                           timeout_seconds=120.0, startup_timeout_seconds=300.0)
    devices = list(range(args.ranks))
    rows = []
    for sequential in (False, True):
        plan = plan_pairs(args.ranks, sequential=sequential)
        clock = Clock()
        run = run_plan(plan, devices, options, on_event=clock)
        assert all(r.error is None and r.correct for r in run.results), run.errors
        pairs = {r.group for r in run.results}
        peak = [max(r.busbw_gbps for r in run.results if r.group == g) for g in pairs]
        rows.append(("sequential" if sequential else "rounds", len(plan.rounds), len(pairs), run.wall_seconds,
                     clock.seconds, statistics.mean(peak)))
    print(f"{args.ranks} gloo ranks, sizes {args.sizes}, iters {args.iters}")
    print(f"{'mode':<11} {'rounds':>6} {'pairs':>5} {'wall s':>7} {'measuring s':>12} "
          f"{'mean pair peak busbw':>21}")
    for mode, n_rounds, n_pairs, wall, measuring, mean_peak in rows:
        print(f"{mode:<11} {n_rounds:>6} {n_pairs:>5} {wall:>7.2f} {measuring:>12.2f} "
              f"{mean_peak:>16.4f} GB/s")
    (_, _, _, wall_r, meas_r, bw_r), (_, _, _, wall_s, meas_s, bw_s) = rows
    print(f"sequential / rounds: wall {wall_s / wall_r:.2f}x, measuring {meas_s / meas_r:.2f}x; "
          f"pair busbw rounds / sequential {bw_r / bw_s:.2f}")


if __name__ == "__main__":
    main()
