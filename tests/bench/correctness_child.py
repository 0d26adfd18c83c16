"""Run by test_allreduce in a child process: checks of the worker's correctness logic with real torch."""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from tpdoctor.bench import worker


def main() -> None:
    cpu = torch.device("cpu")
    for n in (2, 3, 8, 16):
        total = sum(worker._pattern(100, m, torch.float32, cpu) for m in range(n))
        want = worker._expected(100, n, torch.float32, cpu)
        assert worker._matches(total, want), n
        total[57] += 1
        assert not worker._matches(total, want), n
    os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"})
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1,
                            timeout=timedelta(seconds=30))
    try:
        me = worker.Rank("gloo", None)
        pg = dist.group.WORLD
        assert worker.measure_size(me, pg, 1, 0, 1024, iters=2, warmup=1, dtype=torch.float32)[2] is True
        nbytes, time_us, ok = worker.measure_size(me, pg, 2, 0, 1024, iters=2, warmup=1, dtype=torch.float32)
        assert ok is False and nbytes == 1024 and time_us > 0
    finally:
        dist.destroy_process_group()
    print("correctness checks passed")


if __name__ == "__main__":
    main()
