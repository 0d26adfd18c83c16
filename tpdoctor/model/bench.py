"""Benchmark results as plain data (no torch here): one record per group and message size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchResult:
    """One all-reduce measurement, nccl-tests conventions: algbw = bytes/time, busbw = algbw·2(n−1)/n."""

    group: tuple[int, ...]
    backend: str  # nccl | gloo
    bytes: int
    time_us: float
    algbw_gbps: float
    busbw_gbps: float
    correct: bool = True
    iterations: int = 0
    dtype: str = "float32"
    label: str | None = None  # e.g. a deployment name or "pairs"
    error: str | None = None  # set when the run failed (watchdog, wrong result); figures are then 0
    round_index: int | None = None  # all-pairs mode: the round this pair ran in
    concurrent_groups: int = 1  # groups that ran at the same time (pairs rounds run disjoint pairs at once)
    # each member's host name and LOCAL_RANK (its GPU index on that host with nccl under torchrun), in
    # `group` order; a group whose hosts differ crossed the network between nodes (path NET)
    hosts: tuple[str, ...] = ()
    local_ranks: tuple[int, ...] = ()

    @property
    def spans_hosts(self) -> bool:
        return len(set(self.hosts)) > 1
