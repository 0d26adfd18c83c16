"""Which deployment goes where in a fleet: pinned GPUs hold first, then each other deployment (and each
further replica) gets its named node's best free group, else the best free groups anywhere — one per node
for a multi-node job — on nodes where its model fits. Stale nodes are never used; a deployment pinned to
one stays there (it is checked, not moved).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdoctor.advice import quant
from tpdoctor.advice.placement import Group
from tpdoctor.fleet.domains import NvlinkDomain
from tpdoctor.fleet.placer import Placer, Shapes
from tpdoctor.llm import models, precision, sizing
from tpdoctor.model import gpunames
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import TpdError


@dataclass(frozen=True)
class Placement:
    """Where one deployment runs (or would run): its node(s) and GPU group on each."""

    deployment: Deployment
    stages: tuple[tuple[str, tuple[int, ...] | None], ...]  # (host, GPUs or None when unpinned and no room)
    how: str  # pinned | node | placed | unplaced
    note: str | None = None
    copies: tuple[tuple[tuple[str, tuple[int, ...] | None], ...], ...] = ()  # further replicas' stages

    @property
    def host(self) -> str | None:
        return self.stages[0][0] if self.stages else None


class Fits:
    """Does a deployment's model fit one GPU of a node shape at its TP × PP (cached per model shape), on a GPU
    model the file asks for (when it asks for one)?"""

    def __init__(self, shapes: Shapes, base_dir: Path | None, configs: Mapping[str, Path] | None = None) -> None:
        self.shapes, self.base_dir, self.configs = shapes, base_dir, configs or {}
        self.cache: dict[tuple[Any, ...], bool] = {}
        self.specs: dict[str, models.Resolution | None] = {}

    @staticmethod
    def model_key(d: Deployment) -> tuple[Any, ...]:
        """What of a deployment the answer depends on (with the node shape's GPU memory)."""
        return (d.model, d.dtype, d.quantization, d.engine_dtype, d.engine, d.tp, d.pp, d.nodes, d.max_model_len,
                d.max_num_seqs, d.kv_cache_dtype, d.gpu_asked)

    def accepter(self, d: Deployment) -> Callable[[int], bool]:
        """`fits(d, sid)` as a filter of node shapes, each shape answered once (a search visits it often)."""
        seen: dict[int, bool] = {}

        def accept(sid: int) -> bool:
            hit = seen.get(sid)
            if hit is None:
                hit = seen[sid] = self(d, sid)
            return hit
        return accept

    def gpu_refused(self, d: Deployment, sid: int) -> bool:
        """The file asks for GPU models and this shape's GPU is none of them: its scheduler never places it
        there."""
        topo = self.shapes.topologies[sid]
        return bool(d.gpu_asked and topo.gpus) and gpunames.asked_on(
            d.gpu_asked, topo.gpus[0].name, topo.gpus[0].memory_mib) is False

    def no_gpu_asked_for(self, d: Deployment) -> bool:
        """No node of the fleet has a GPU model the file asks for."""
        return bool(d.gpu_asked) and all(self.gpu_refused(d, sid) for sid in range(len(self.shapes.topologies)))

    def __call__(self, d: Deployment, sid: int) -> bool:
        if self.gpu_refused(d, sid):
            return False
        topo = self.shapes.topologies[sid]
        mem = topo.gpus[0].memory_mib if topo.gpus else None
        if not isinstance(mem, int):
            return True
        key = (*self.model_key(d), mem)
        hit = self.cache.get(key)
        if hit is None:
            if d.model not in self.specs:
                try:
                    config = self.configs.get(d.model) or self.configs.get("")
                    self.specs[d.model] = (models.resolve_model(d.model, self.base_dir, config)
                                           if d.model or config else None)
                except TpdError:
                    self.specs[d.model] = None
            res = self.specs[d.model]
            spec = res.spec if res is not None else None
            weights = precision.for_deployment(d, res).weights if spec is not None else None
            hit = True
            if spec is not None and weights is not None:
                try:
                    dtype = sizing.normalize_dtype(quant.sizing_dtype(quant.normalize(weights)))
                    est = sizing.estimate(spec, dtype=dtype, tp=d.tp, pp=d.pp, max_model_len=d.max_model_len,
                                          max_num_seqs=d.max_num_seqs, gpu_memory_mib=mem)
                    hit = bool(est.fits)
                except ValueError:
                    hit = True
            self.cache[key] = hit
        return hit


def label_of(host: str, group: Group | None, gpus: tuple[int, ...] | None) -> str:
    if group is not None:
        return f"{host} {group.label}" + (f" ({group.weakest_path})" if group.weakest_path else "")
    if gpus:
        return f"{host} " + "+".join(f"GPU{i}" for i in gpus)
    return host


def place_all(deployments: Sequence[Deployment], placer: Placer, stale: set[str], known: set[str],
              fits: Fits) -> tuple[list[Placement], dict[str, dict[str, tuple[int, ...]]]]:
    """Placements in manifest order and, per host, who holds which GPUs."""
    holders: dict[str, dict[str, tuple[int, ...]]] = {}

    def hold(host: str, name: str, gpus: tuple[int, ...]) -> None:
        mine = holders.setdefault(host, {})
        mine[name] = tuple(sorted(set(mine.get(name, ())) | set(gpus)))
        placer.hold(host, gpus)

    for d in deployments:  # pinned GPUs on a known node hold first, whatever the manifest order
        if d.node in known and d.gpus:
            hold(d.node, d.name, d.gpus)
    out: list[Placement] = []
    full: set[tuple[Any, ...]] = set()  # (n, model key) with no room anywhere: GPUs are only ever held, not freed
    for d in deployments:
        n, k = d.gpus_needed, max(1, d.nodes)
        note = None
        stages: list[tuple[str, tuple[int, ...] | None]] = []
        how = "placed"
        if d.node in stale:
            out.append(Placement(d, ((d.node, d.gpus),), "pinned",
                                 f"node {d.node}'s report is stale: checked on it, not used for placement"))
            continue
        if d.node is not None and d.node in placer:
            node = d.node
            how = "pinned" if d.gpus else "node"
            gpus = d.gpus
            if not gpus:
                g = placer.best_on(node, n)
                gpus = g.gpus if g is not None else None
                if gpus:
                    hold(node, d.name, gpus)
                else:
                    note = f"no free group of {n} GPUs left on {node}"
            stages.append((node, gpus))
        elif d.node is not None:
            note = f"node {d.node} has no report in the fleet: checked where the fleet has room"
        accept = fits.accepter(d)
        if k > len(stages) and k > 1 and placer.domains:  # inside one NVLink domain when one has room
            for host, gpus in _in_domain(placer, n, k, stages, accept):
                gpus = d.gpus if d.gpus and not stages else gpus
                hold(host, d.name, gpus)
                stages.append((host, gpus))
        while len(stages) < k:
            nowhere = (n, fits.model_key(d)) if not stages else None
            found = None if nowhere in full else placer.best_anywhere(n, exclude=[h for h, _ in stages],
                                                                       accept=accept)
            if found is None:
                if nowhere is not None:
                    full.add(nowhere)
                note = note or (f"no node of the fleet has the GPU {d.name} asks for ({', '.join(d.gpu_asked)})"
                                if fits.no_gpu_asked_for(d) else
                                f"no node of the fleet has {n} free GPUs for {d.name} ({k} node(s) needed)")
                break
            host, group = found
            gpus = d.gpus if d.gpus and not stages else group.gpus
            hold(host, d.name, gpus)
            stages.append((host, gpus))
        if not stages:
            how = "unplaced"
        copies: list[tuple[tuple[str, tuple[int, ...] | None], ...]] = []
        if stages and not d.gpus and d.replicas > 1:  # each further replica needs its own free groups
            for _ in range(d.replicas - 1):
                copy = _place_copy(d, n, k, placer, hold, accept)
                if copy is None:
                    note = note or f"only {1 + len(copies)} of {d.replicas} replicas have room in the fleet"
                    break
                copies.append(copy)
        out.append(Placement(d, tuple(stages), how, note, tuple(copies)))
    return out, holders


def _place_copy(d: Deployment, n: int, k: int, placer: Placer, hold: Callable[[str, str, tuple[int, ...]], None],
                accept: Callable[[int], bool]) -> tuple[tuple[str, tuple[int, ...] | None], ...] | None:
    """One more replica of an unpinned deployment: on its named node, else on the best free groups."""
    stages: list[tuple[str, tuple[int, ...]]] = []
    if d.node is not None and d.node in placer:
        g = placer.best_on(d.node, n)
        if g is None:
            return None
        stages.append((d.node, g.gpus))
    if k > 1 and placer.domains:
        stages += _in_domain(placer, n, k, stages, accept)
    while len(stages) < k:
        found = placer.best_anywhere(n, exclude=[h for h, _ in stages], accept=accept)
        if found is None:
            return None
        stages.append((found[0], found[1].gpus))
    for host, gpus in stages:
        hold(host, d.name, gpus)
    return tuple(stages)


def _in_domain(placer: Placer, n: int, k: int, stages: Sequence[tuple[str, tuple[int, ...] | None]],
               accept: Callable[[int], bool]) -> list[tuple[str, tuple[int, ...]]]:
    """The remaining stages of a multi-node job on healthy members of one multi-node NVLink domain: the
    domain of its pinned first node, else the first domain (healthy ones first) with room for all of them.
    Empty when none has room: the job then crosses the network (TPD203)."""
    have = [h for h, _ in stages]
    if have:
        pinned = placer.domain_of.get(have[0])
        candidates: tuple[NvlinkDomain, ...] = (pinned,) if pinned is not None else ()
    else:
        candidates = placer.domains
    for domain in candidates:
        found = placer.best_in_domain(domain, n, k - len(have), exclude=have, accept=accept)
        if found is not None:
            return [(host, group.gpus) for host, group in found]
    return []
