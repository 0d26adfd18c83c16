"""The best free group of N GPUs for a TP group: weakest healthy path first, then total bandwidth, then
NUMA locality (fewest NUMA nodes), then the lowest GPU indices — exactly, without enumerating C(72, 8).

Search: the group's weakest path is one of the node's few distinct pair qualities. For each quality t,
best first, keep only pairs at least that good (graph G_t), drop GPUs with fewer than N−1 such partners
(k-core), and look for an N-clique by branch and bound. The first t that has one is the optimal weakest
path; within G_t the search maximises total bandwidth, then minimises NUMA nodes. Branches are explored
in increasing GPU index, so the first group found with a given score is the lexicographically smallest,
and any branch whose optimistic bound cannot strictly beat the best so far is cut. On a healthy NVLink
domain every bound is tight and the search ends after one descent; tests check the optimum against brute
force on every 8- and 16-GPU fixture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tpdoctor.advice.costmodel import nominal_path
from tpdoctor.model import skus
from tpdoctor.model.topology import RANK, Link, LinkHealth, Topology, path_kind, path_nvlinks
from tpdoctor.model.unknown import Unknown

Quality = tuple[int, int, int]  # smaller is better: (path class rank, −NVLinks, health penalty)
WORST: Quality = (len(RANK), 0, 1)  # no link known between the two GPUs


def link_quality(link: Link | None) -> Quality:
    if link is None:
        return WORST
    kind = path_kind(link.path)
    penalty = 0 if link.health in (LinkHealth.OK, LinkHealth.UNKNOWN) else 1
    return (RANK[kind], -path_nvlinks(link.path), penalty)


def link_bandwidth(topology: Topology, link: Link | None, sku: skus.Sku | None = None) -> float:
    """Effective GB/s of a pair: measured busbw, else the nominal rating × the path class efficiency."""
    if link is None:
        return 0.0
    if link.busbw_gbps is not None:
        return float(link.busbw_gbps)
    if sku is None:
        sku = skus.lookup(topology.gpu(link.indices[0]).name)
    nominal = None if isinstance(link.nominal_gbps, Unknown) else float(link.nominal_gbps)
    return nominal_path(link.path, sku, nominal).bw_gbps


@dataclass(frozen=True)
class Group:
    gpus: tuple[int, ...]
    weakest_path: str | None  # None for a single GPU
    weakest_quality: Quality
    total_bw_gbps: float
    numa_nodes: int

    @property
    def key(self) -> tuple[Quality, float, int, tuple[int, ...]]:
        """Smaller is better."""
        return (self.weakest_quality, -round(self.total_bw_gbps, 6), self.numa_nodes, self.gpus)

    @property
    def score(self) -> tuple[Quality, float, int]:
        """The key without the index tie-break: what optimality means."""
        return self.key[:3]

    @property
    def label(self) -> str:
        return "+".join(f"GPU{i}" for i in self.gpus)


class PairTable:
    """Pair qualities, bandwidths and NUMA nodes of a topology, computed once."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.indices = tuple(sorted(g.index for g in topology.gpus))
        self.quality: dict[tuple[int, int], Quality] = {}
        self.bw: dict[tuple[int, int], float] = {}
        self.path: dict[tuple[int, int], str] = {}
        sku_of = {g.index: skus.lookup(g.name) for g in topology.gpus}
        for lk in topology.gpu_links():
            i, j = sorted(lk.indices)
            self.quality[(i, j)] = link_quality(lk)
            self.bw[(i, j)] = link_bandwidth(topology, lk, sku_of.get(i))
            self.path[(i, j)] = lk.path
        self.numa: dict[int, object] = {}
        for g in topology.gpus:
            self.numa[g.index] = g.numa_node if not isinstance(g.numa_node, Unknown) else ("?", g.index)
        self._groups: dict[tuple[int, ...], Group] = {}  # `group` of each GPU set asked (a fleet asks often)

    def q(self, i: int, j: int) -> Quality:
        return self.quality.get((i, j) if i < j else (j, i), WORST)

    def w(self, i: int, j: int) -> float:
        return self.bw.get((i, j) if i < j else (j, i), 0.0)

    def group(self, gpus: Iterable[int]) -> Group:
        g = tuple(sorted(gpus))
        found = self._groups.get(g)
        if found is None:
            found = self._groups[g] = self._group(g)
        return found

    def _group(self, g: tuple[int, ...]) -> Group:
        worst: Quality = (-1, -10**6, -1) if len(g) > 1 else (0, 0, 0)
        worst_path: str | None = None
        total = 0.0
        for a in range(len(g)):
            for b in range(a + 1, len(g)):
                q = self.q(g[a], g[b])
                total += self.w(g[a], g[b])
                if q > worst:
                    worst, worst_path = q, self.path.get((g[a], g[b]), "unknown")
        return Group(g, worst_path, worst, total, len({self.numa[i] for i in g}))

    def ring_local(self, gpus: Iterable[int]) -> str | None:
        """The path of a ring's other links when the group's weakest pairs only join two halves that are
        better connected inside (two sockets; two NVLink islands): NCCL's ring then crosses the weak boundary
        twice and runs its other steps on this better class. None when the weak pairs are not such a cut."""
        g = sorted(gpus)
        if len(g) <= 2:
            return None
        worst = max(self.q(a, b) for i, a in enumerate(g) for b in g[i + 1:])
        comp: dict[int, int] = {v: v for v in g}

        def find(v: int) -> int:
            while comp[v] != v:
                v = comp[v]
            return v

        local: tuple[Quality, str] | None = None
        for i, a in enumerate(g):
            for b in g[i + 1:]:
                q = self.q(a, b)
                if q < worst:
                    comp[find(a)] = find(b)
                    if local is None or q > local[0]:
                        local = (q, self.path.get((a, b), "unknown"))
        halves: dict[int, list[int]] = {}
        for v in g:
            halves.setdefault(find(v), []).append(v)
        if len(halves) != 2 or local is None:
            return None
        cliques = all(self.q(a, b) < worst for h in halves.values() for i, a in enumerate(h) for b in h[i + 1:])
        return local[1] if cliques else None


def best_group(topology: Topology, n: int, *, exclude: Iterable[int] = (),
               table: PairTable | None = None) -> Group | None:
    """The optimal free group of `n` GPUs, or None when fewer than `n` GPUs are free."""
    t = table or PairTable(topology)
    held = set(exclude)
    bad = {g.index for g in topology.gpus if g.status != "ok"}
    free = [i for i in t.indices if i not in held and i not in bad]
    if n < 1 or len(free) < n:
        return None
    if n == 1:
        return t.group((free[0],))
    free_set = set(free)
    levels = sorted({q for (a, b), q in t.quality.items() if a in free_set and b in free_set})
    if len(t.quality) < len(free) * (len(free) - 1) // 2:
        levels.append(WORST)  # some pairs have no link at all
    for level in levels:
        found = _search(t, free, n, level)
        if found is not None:
            return t.group(found)
    return None


def _k_core(adj: Mapping[int, set[int]], k: int) -> dict[int, set[int]]:
    alive = {v: set(ns) for v, ns in adj.items()}
    queue = [v for v, ns in alive.items() if len(ns) < k]
    while queue:
        v = queue.pop()
        if v not in alive:
            continue
        for u in alive.pop(v):
            if u in alive:
                alive[u].discard(v)
                if len(alive[u]) < k:
                    queue.append(u)
    return alive


def _search(t: PairTable, free: list[int], n: int, level: Quality) -> tuple[int, ...] | None:
    """Best n-clique (max total bw, then fewest NUMA nodes, then lexicographically smallest) among pairs
    of quality ≤ level; None when there is none."""
    ok = {p for p, q in t.quality.items() if q <= level}
    adj: dict[int, set[int]] = {v: set() for v in free}
    for a, b in ok:
        if a in adj and b in adj:
            adj[a].add(b)
            adj[b].add(a)
    adj = _k_core(adj, n - 1)
    if len(adj) < n:
        return None
    verts = sorted(adj)
    wmax = max((t.w(a, b) for a in verts for b in adj[a]), default=0.0)
    best: list[tuple[float, int, tuple[int, ...]] | None] = [None]  # (−bw, numa, gpus)

    def numa_lb(chosen: list[int], cands: list[int], r: int) -> int:
        used = {t.numa[v] for v in chosen}
        inside = sum(1 for c in cands if t.numa[c] in used)
        need = r - inside
        if need <= 0:
            return len(used)
        counts: dict[object, int] = {}
        for c in cands:
            if t.numa[c] not in used:
                counts[t.numa[c]] = counts.get(t.numa[c], 0) + 1
        biggest = max(counts.values(), default=1)
        return len(used) + math.ceil(need / biggest)

    def dfs(chosen: list[int], weight: float, cands: list[int]) -> None:
        r = n - len(chosen)
        if r == 0:
            cand = (-round(weight, 6), len({t.numa[v] for v in chosen}), tuple(chosen))
            if best[0] is None or cand < best[0]:
                best[0] = cand
            return
        if len(cands) < r:
            return
        if cannot_improve(chosen, weight, cands, r):
            return
        for idx, v in enumerate(cands):
            if len(cands) - idx < r:
                break
            nxt = [u for u in cands[idx + 1:] if u in adj[v]]
            before = best[0]
            dfs(chosen + [v], weight + sum(t.w(v, s) for s in chosen), nxt)
            # a better incumbent may make every later sibling hopeless: one bound over all of them
            if best[0] is not before and cannot_improve(chosen, weight, cands[idx + 1:], r):
                return

    def cannot_improve(chosen: list[int], weight: float, cands: list[int], r: int) -> bool:
        """True when no completion of `chosen` from `cands` can strictly beat the incumbent."""
        if best[0] is None:
            return False
        if len(cands) < r:
            return True
        gains = sorted((sum(t.w(c, s) for s in chosen) for c in cands), reverse=True)[:r]
        ub = weight + sum(gains) + r * (r - 1) / 2 * wmax
        return (-round(ub, 6), numa_lb(chosen, cands, r)) >= best[0][:2]

    dfs([], 0.0, verts)
    return best[0][2] if best[0] is not None else None


def brute_force_best(topology: Topology, n: int, exclude: Iterable[int] = ()) -> Group | None:
    """Reference answer by enumeration (tests and benchmarks only)."""
    from itertools import combinations

    t = PairTable(topology)
    held = set(exclude)
    free = [i for i in t.indices if i not in held and topology.gpu(i).status == "ok"]
    groups = [t.group(c) for c in combinations(free, n)]
    return min(groups, key=lambda g: g.key) if groups else None
