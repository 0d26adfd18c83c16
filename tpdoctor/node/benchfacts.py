"""Benchmark facts of the node scope: one subject per measured GPU group (its best clean size), with every
failed run of the group counted (TPD109) and the expectation for its path and SKU (TPD106)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.topology import PathKind, Topology, path_kind, path_sort_key

ExpectedBusbw = Callable[[Topology, "tuple[int, ...]"], "float | None"]  # (node, GPU group) -> GB/s


def _subject(ident: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"id": ident, "unknown": {}, **values}


def _failure(r: BenchResult) -> str | None:
    if r.error is not None:
        return r.error
    return None if r.correct else f"wrong result at {r.bytes} bytes (the all-reduced sum did not match)"


def _bench_key(r: BenchResult) -> tuple[str, tuple[int, ...], bool]:
    """(subject id, group, across nodes): `GPU0+GPU1` here; `node-a:GPU0+node-b:GPU0` across nodes."""
    if r.spans_hosts:
        ranks = r.local_ranks or r.group
        return "+".join(f"{h}:GPU{i}" for h, i in zip(r.hosts, ranks)), tuple(r.group), True
    key = tuple(sorted(r.group))
    return "+".join(f"GPU{i}" for i in key), key, False


def bench_facts(topology: Topology, results: Sequence[BenchResult],
           expected_busbw: ExpectedBusbw | None) -> list[dict[str, Any]]:
    best: dict[str, BenchResult] = {}
    failures: dict[str, list[str]] = {}
    for r in results:
        ident = _bench_key(r)[0]
        if (why := _failure(r)) is not None:
            failures.setdefault(ident, []).append(why)
        cur = best.get(ident)
        good = r.error is None and r.correct
        cur_good = cur is not None and cur.error is None and cur.correct
        if cur is None or (good and (not cur_good or r.bytes > cur.bytes)):
            best[ident] = r
    out = []
    for ident, r in sorted(best.items()):
        _, key, across = _bench_key(r)
        # a group across nodes crosses the network: judged for failures here, its busbw by the fleet
        path = "NET" if across else _weakest_path(topology, key)
        expected = expected_busbw(topology, key) if expected_busbw and r.backend == "nccl" and not across else None
        out.append(_subject(ident, {
            "group": list(key), "label": r.label, "backend": r.backend, "bytes": r.bytes,
            "busbw_gbps": float(r.busbw_gbps), "algbw_gbps": float(r.algbw_gbps), "correct": r.correct,
            "error": r.error, "path": path,
            "busbw_expected_gbps": float(expected) if expected else None,
            "busbw_ratio": r.busbw_gbps / expected if expected else None,
            "failed_runs": len(failures.get(ident, [])),
            "failure": failures[ident][0] if ident in failures else None,
        }))
    return out


def _weakest_path(topology: Topology, group: tuple[int, ...]) -> str | None:
    paths = [lk.path for i in group for j in group if i < j
             for lk in [topology.gpu_link(i, j)] if lk is not None]
    if not paths:
        return None
    worst = max(paths, key=path_sort_key)
    return worst if path_kind(worst) is not PathKind.NET else None
