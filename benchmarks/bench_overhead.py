"""Does our harness distort what it measures? `tpdoctor bench`'s timing (worker.measure_size, the code
the command runs) against a bare `torch.distributed.all_reduce` timing loop, on the same gloo ranks and
sizes, interleaved in one run (ABBA order per repetition), and the ratio busbw_tpdoctor / busbw_bare.
Must be >= 0.95.

On a shared machine the load changes from one second to the next, so the figures are paired: each
repetition measures both back to back and yields one ratio; we report, per size, the median of those
paired ratios and the ratio of the best (contention only ever lowers busbw) — and the verdict on the
geometric mean of the per-size paired medians.

    python benchmarks/bench_overhead.py [--ranks 2] [--sizes 64K,1M,4M,16M] [--iters 20] [--reps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bare_busbw_gbps(nbytes: int, iters: int, warmup: int, ranks: int) -> float:
    """The loop anyone would write: fill, warm up, barrier, time N in-place all-reduces."""
    import torch
    import torch.distributed as dist

    buf = torch.zeros(nbytes // 4, dtype=torch.float32)
    for _ in range(warmup):
        dist.all_reduce(buf)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(buf)
    seconds = (time.perf_counter() - t0) / iters
    return nbytes / seconds / 1e9 * 2 * (ranks - 1) / ranks


def rank_main(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    from tpdoctor.bench.worker import Rank, measure_size
    from tpdoctor.model.busbw import busbw_gbps
    from tpdoctor.model.sizes import parse_sizes

    me = Rank("gloo", None)
    dist.init_process_group("gloo")
    n = dist.get_world_size()
    sizes = parse_sizes(args.sizes)
    ours: dict[int, list[float]] = {s: [] for s in sizes}
    bare: dict[int, list[float]] = {s: [] for s in sizes}
    for rep in range(args.reps):
        for size in sizes:
            order = ("ours", "bare") if rep % 2 == 0 else ("bare", "ours")
            for which in order:
                if which == "ours":
                    nbytes, time_us, ok = measure_size(me, dist.group.WORLD, n, me.rank, size,
                                                       iters=args.iters, warmup=args.warmup,
                                                       dtype=torch.float32)
                    assert ok
                    ours[size].append(busbw_gbps(nbytes, time_us, n))
                else:
                    bare[size].append(bare_busbw_gbps(size, args.iters, args.warmup, n))
    if me.rank == 0:
        print(json.dumps({"ours": ours, "bare": bare}), flush=True)
    dist.destroy_process_group()


def launch(args: argparse.Namespace) -> None:
    from tpdoctor.bench.launch import free_port
    from tpdoctor.model.sizes import format_size

    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), WORLD_SIZE=str(args.ranks),
               OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, __file__, "--rank-main", *sys.argv[1:]],
                              env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.PIPE,
                              text=True)
             for r in range(args.ranks)]
    out = [p.communicate(timeout=600)[0] for p in procs]
    if any(p.returncode for p in procs):
        sys.exit("a rank failed")
    data = json.loads(out[0].strip().splitlines()[-1])
    print(f"{args.ranks} gloo ranks, iters {args.iters}, warmup {args.warmup}, {args.reps} interleaved reps; "
          f"busbw GB/s")
    print(f"{'size':>6} {'tpd median':>11} {'bare median':>12} {'tpd best':>9} {'bare best':>10} "
          f"{'paired ratio':>13} {'best ratio':>11}")
    ratios = []
    for size, values in data["ours"].items():
        bare = data["bare"][size]
        paired = statistics.median(o / b for o, b in zip(values, bare))
        best = max(values) / max(bare)
        ratios.append(paired)
        print(f"{format_size(int(size)):>6} {statistics.median(values):>11.4f} "
              f"{statistics.median(bare):>12.4f} {max(values):>9.4f} {max(bare):>10.4f} "
              f"{paired:>13.3f} {best:>11.3f}")
    geo = statistics.geometric_mean(ratios)
    print(f"ratio tpdoctor/bare (paired medians): min {min(ratios):.3f}, geometric mean {geo:.3f} "
          f"(must be >= 0.95)")
    sys.exit(0 if geo >= 0.95 else 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--sizes", default="64K,1M,4M,16M")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--rank-main", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rank_main:
        rank_main(args)
    else:
        launch(args)


if __name__ == "__main__":
    main()
