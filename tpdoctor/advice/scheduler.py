"""GPUs a scheduler picks: which groups of that size it may hand out on this node, and how many are bad.

A Kubernetes device plugin, Slurm or Ray gives a TP group *some* N free GPUs; the manifest cannot say which.
The question "is its group on healthy fast links" is then about the node: of the C(free, N) groups the
scheduler may hand out, how many have a weaker path than the best group of that size (a down or degraded
NVLink, PCIe where NVLink exists, a socket crossing), and how many include a pair whose NVLink is down.

Two allocation semantics (`--allocation`):
- `any` (default): any N free GPUs. Kubelet without a preferred allocation, the NVIDIA plugin with shared or
  MIG devices (its greedy "distributed" policy, internal/rm/allocate.go), GKE's own plugin, Slurm without
  topology in gres.conf: nothing in the manifest stops the weakest group.
- `best-effort`: the NVIDIA k8s-device-plugin for whole GPUs answers kubelet's GetPreferredAllocation with
  go-gpuallocator's best-effort policy (internal/rm/nvml_manager.go getPreferredAllocation → alignedAlloc):
  the partition of free GPUs with the highest pair score, counting only *active* NVLinks read from NVML at
  each allocation (go-gpuallocator internal/links/device.go getAllNvLinkRemotePciInfo). On this node that is
  the best free group, which this module computes the same way as placement.best_group.
Counting is exact: every group is enumerated up to 50,000 of them; beyond, the groups that contain at least
one bad pair are counted by inclusion-exclusion over the bad pairs (up to 14 of them); beyond that, unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

from tpdoctor.advice.placement import Group, PairTable, best_group
from tpdoctor.model.topology import LinkHealth, Topology

ALLOCATIONS = ("any", "best-effort")
MAX_ENUMERATED = 50_000
MAX_EDGES = 14


@dataclass(frozen=True)
class Sets:
    size: int
    allocation: str
    total: int | None  # groups of `size` the scheduler may hand out (None: too many to count)
    bad: int | None  # of them with a weaker path than the best group
    down: int | None  # of them including a pair whose NVLink is down (traffic over PCIe)
    best: Group | None
    worst: Group | None
    bad_pairs: tuple[str, ...]  # "GPU0-GPU1 (NODE, NVLink down)", the pairs that make a group bad

    @property
    def all_down(self) -> bool | None:
        """Every group it may hand out includes a down NVLink; None when they are too many to count."""
        if self.total is None or self.down is None:
            return None
        return self.total > 0 and self.down == self.total

    @property
    def risky(self) -> bool:
        """Some group it may hand out is weaker than the best. Too many to count: there are then more bad pairs
        than MAX_EDGES, and any group holding one of them is weaker."""
        return bool(self.bad) if self.bad is not None else bool(self.bad_pairs)

    def describe(self, who: str) -> str:
        """'2 of the 6 GPU pairs the device plugin may hand out cross a down NVLink (GPU0-GPU1 …)'."""
        what = "GPU pairs" if self.size == 2 else f"groups of {self.size} GPUs"
        if self.allocation == "best-effort":
            g = self.best
            return (f"{who}'s topology-aware allocation picks the best free group, {g.label} ({g.weakest_path})"
                    if g else f"{who} has no free group of {self.size} GPUs")
        if self.total is None:
            return f"{who} may hand out any of more {what} than tpdoctor counts; bad pairs: {', '.join(self.bad_pairs)}"
        pairs = f" ({', '.join(self.bad_pairs[:4])}{' …' if len(self.bad_pairs) > 4 else ''})" if self.bad_pairs else ""
        best = self.best.weakest_path if self.best and self.best.weakest_path else "the best group"
        if self.down and self.down == self.bad:
            return f"{self.down} of the {self.total} {what} {who} may hand out cross a down NVLink{pairs}"
        if self.bad:
            down = f", {self.down} of them across a down NVLink" if self.down else ""
            return (f"{self.bad} of the {self.total} {what} {who} may hand out have a weaker path than {best}"
                    f"{down}{pairs}")
        return f"all {self.total} {what} {who} may hand out are as good as the best"


def _pair_labels(topology: Topology, edges: list[tuple[int, int]], down: set[tuple[int, int]]) -> tuple[str, ...]:
    out = []
    for a, b in edges:
        lk = topology.gpu_link(a, b)
        why = ", NVLink down" if (a, b) in down else (", NVLink degraded" if lk is not None and
                                                      lk.health is LinkHealth.DEGRADED else "")
        out.append(f"GPU{a}-GPU{b} ({lk.path if lk is not None else 'no link'}{why})")
    return tuple(out)


def _count_with_edges(n: int, k: int, edges: list[tuple[int, int]]) -> int:
    """k-subsets of n GPUs holding at least one of `edges` (inclusion-exclusion)."""
    total = 0
    for r in range(1, len(edges) + 1):
        for chosen in combinations(edges, r):
            verts = {v for e in chosen for v in e}
            if len(verts) <= k:
                total += (-1) ** (r + 1) * comb(n - len(verts), k - len(verts))
    return total


def sets(topology: Topology, k: int, *, exclude: set[int] | frozenset[int] = frozenset(), allocation: str = "any",
         table: PairTable | None = None) -> Sets | None:
    """The groups of `k` free GPUs a scheduler may hand out (see the module docstring); None when fewer free."""
    t = table or PairTable(topology)
    free = [g.index for g in sorted(topology.gpus, key=lambda g: g.index) if g.status == "ok"
            and g.index not in exclude]
    best = best_group(topology, k, exclude=exclude, table=t)
    if best is None or k < 2:
        return None if best is None else Sets(k, allocation, 1, 0, 0, best, best, ())
    level = best.weakest_quality
    edges = [(a, b) for i, a in enumerate(free) for b in free[i + 1:] if t.q(a, b) > level]
    down = {(a, b) for a, b in edges if (lk := topology.gpu_link(a, b)) is not None and lk.health is LinkHealth.DOWN}
    labels = _pair_labels(topology, edges, down)
    if allocation == "best-effort":
        n_down = 1 if any(a in best.gpus and b in best.gpus for a, b in down) else 0
        return Sets(k, allocation, 1, 0, n_down, best, best, labels)
    total = comb(len(free), k)
    if total <= MAX_ENUMERATED:
        bad = n_down = 0
        worst = best
        for g in combinations(free, k):
            pairs = [(a, b) for i, a in enumerate(g) for b in g[i + 1:]]
            if any(t.q(a, b) > level for a, b in pairs):
                bad += 1
                n_down += any(p in down for p in pairs)
                cand = t.group(g)
                if cand.key > worst.key:
                    worst = cand
        return Sets(k, allocation, total, bad, n_down, best, worst, labels)
    if len(edges) <= MAX_EDGES:
        return Sets(k, allocation, total, _count_with_edges(len(free), k, edges),
                    _count_with_edges(len(free), k, sorted(down)), best, None, labels)
    return Sets(k, allocation, None, None, None, best, None, labels)
