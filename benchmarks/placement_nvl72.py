"""Placement search on a 72-GPU NVLink domain (GB200 NVL72 shape) with a few broken links.

    PYTHONPATH=. /work/venv/bin/python benchmarks/placement_nvl72.py

Prints the median time of `best_group` for N = 2…32 (pair table built once, as check-deployment does), the
table build time, and the blind-enumeration cost it avoids (C(72, N) groups × the measured cost of scoring
one group), as a ratio. Target: < 50 ms for N = 8.
"""

from __future__ import annotations

import math
import random
import statistics
import time

from tpdoctor.advice import placement
from tpdoctor.model import synthetic


def median_ms(fn, repeat: int = 7) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    rng = random.Random(7)
    broken = []
    while len(broken) < 6:
        a, b = rng.sample(range(72), 2)
        broken.append((a, b, rng.choice([0, 9, 17])))
    topo = synthetic.nvl72(broken)
    print(f"NVL72 domain, broken/degraded links: {sorted((min(a, b), max(a, b), up) for a, b, up in broken)}")
    build_ms = median_ms(lambda: placement.PairTable(topo))
    table = placement.PairTable(topo)
    print(f"pair table (2556 pairs): {build_ms:.1f} ms")
    # cost of scoring one group, for the enumeration estimate
    groups = [tuple(rng.sample(range(72), 8)) for _ in range(2000)]
    t0 = time.perf_counter()
    for g in groups:
        table.group(g)
    per_group_us = (time.perf_counter() - t0) / len(groups) * 1e6
    print(f"scoring one 8-GPU group: {per_group_us:.1f} µs")
    print(f"{'N':>3} {'search ms':>10} {'C(72,N)':>12} {'enumeration (est.)':>20} {'ratio':>10}  group")
    held = set(rng.sample(range(72), 20))
    for n in (2, 4, 8, 16, 32):
        ms = median_ms(lambda n=n: placement.best_group(topo, n, table=table))
        g = placement.best_group(topo, n, table=table)
        combos = math.comb(72, n)
        est_s = combos * per_group_us * (n * (n - 1) / 56) / 1e6
        print(f"{n:>3} {ms:>10.2f} {combos:>12.3g} {est_s:>18.3g} s {est_s * 1e3 / ms:>10.3g}  "
              f"{g.label if g else None} ({g.weakest_path if g else ''}, {g.numa_nodes if g else ''} NUMA)")
    ms = median_ms(lambda: placement.best_group(topo, 8, exclude=held, table=table))
    print(f"N=8 with 20 GPUs held by other deployments: {ms:.2f} ms")
    ms = median_ms(lambda: placement.best_group(topo, 8))
    print(f"N=8 including the pair-table build: {ms:.2f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
