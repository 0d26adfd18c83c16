"""nccl-tests' all-reduce figures (`doc/PERFORMANCE.md`): algbw = bytes / time; busbw = algbw · 2(n−1)/n.

GB/s here is 10^9 bytes per second, as nccl-tests prints it.
"""

from __future__ import annotations

from collections.abc import Iterable

from tpdoctor.model.bench import BenchResult


def busbw_factor(ranks: int) -> float:
    """2(n−1)/n for all-reduce: what each rank's link really carries relative to algbw."""
    if ranks < 1:
        raise ValueError(f"a group has at least one rank, got {ranks}")
    return 2.0 * (ranks - 1) / ranks


def algbw_gbps(nbytes: int, time_us: float) -> float:
    if time_us <= 0:
        raise ValueError(f"time must be positive, got {time_us} us")
    return nbytes / (time_us * 1e-6) / 1e9


def busbw_gbps(nbytes: int, time_us: float, ranks: int) -> float:
    return algbw_gbps(nbytes, time_us) * busbw_factor(ranks)


def measured(group: tuple[int, ...], backend: str, nbytes: int, time_us: float, *, correct: bool,
             iterations: int, dtype: str, label: str | None = None, round_index: int | None = None,
             concurrent_groups: int = 1, hosts: tuple[str, ...] = (),
             local_ranks: tuple[int, ...] = ()) -> BenchResult:
    """A BenchResult with algbw/busbw derived from the time, so the formula lives in one place."""
    return BenchResult(
        group=group, backend=backend, bytes=nbytes, time_us=time_us,
        algbw_gbps=algbw_gbps(nbytes, time_us), busbw_gbps=busbw_gbps(nbytes, time_us, len(group)),
        correct=correct, iterations=iterations, dtype=dtype, label=label,
        error=None if correct else "wrong all-reduce result (values differ from the expected sum)",
        round_index=round_index, concurrent_groups=concurrent_groups, hosts=hosts, local_ranks=local_ranks,
    )


def failed(group: tuple[int, ...], backend: str, nbytes: int, error: str, *, dtype: str = "float32",
           label: str | None = None, round_index: int | None = None,
           concurrent_groups: int = 1, hosts: tuple[str, ...] = ()) -> BenchResult:
    """A result for a size that did not complete: figures 0, `error` says why and names the group."""
    return BenchResult(group=group, backend=backend, bytes=nbytes, time_us=0.0, algbw_gbps=0.0,
                       busbw_gbps=0.0, correct=False, iterations=0, dtype=dtype, label=label, error=error,
                       round_index=round_index, concurrent_groups=concurrent_groups, hosts=hosts)


def peak_busbw_gbps(results: Iterable[BenchResult]) -> float | None:
    """Highest busbw among successful results, None when none succeeded."""
    values = [r.busbw_gbps for r in results if r.error is None and r.correct]
    return max(values) if values else None


def group_label(group: tuple[int, ...], backend: str = "") -> str:
    """`GPU0+GPU1`; gloo ranks are CPU processes, not GPUs: `rank0+rank1`."""
    return "+".join(f"{'rank' if backend == 'gloo' else 'GPU'}{i}" for i in group)
