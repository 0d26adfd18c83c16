"""Put measured pairwise busbw onto a Topology's links (pure: returns a new Topology)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.topology import Topology, ordered


def pair_peaks(results: Iterable[BenchResult]) -> dict[tuple[str, str], float]:
    """Peak busbw of every measured two-GPU group, keyed like links (`GPU0`, `GPU1`), a before b."""
    peaks: dict[tuple[str, str], float] = {}
    for r in results:
        if len(r.group) != 2 or r.error is not None or not r.correct:
            continue
        key = ordered(f"GPU{r.group[0]}", f"GPU{r.group[1]}")
        peaks[key] = max(peaks.get(key, 0.0), r.busbw_gbps)
    return peaks


def attach_busbw(topology: Topology, results: Iterable[BenchResult]) -> Topology:
    """Each GPU pair link that was measured gets its peak busbw in `busbw_gbps`; other links are kept."""
    peaks = pair_peaks(results)
    if not peaks:
        return topology
    links = tuple(replace(lk, busbw_gbps=peaks[(lk.a, lk.b)]) if (lk.a, lk.b) in peaks else lk
                  for lk in topology.links)
    return replace(topology, links=links)
