"""Fleet-wide placement: the best free GPU group for a deployment across every node of the fleet.

Searching every node for every deployment (2,000 nodes × 10,000 deployments) is what this avoids. Nodes
are grouped by *state*: their topology's shape (GPUs, paths, link health, NICs, local bench figures —
everything placement and the cost model read, not the host name or UUIDs) and the set of GPUs already
held. All nodes in one state have the same best free group of N GPUs, so `advice.placement.best_group`
runs once per (state, N), on one representative node, and a fleet-wide search compares one candidate per
state (a few dozen), then takes the first host of the winning state by name. Holding GPUs on a node
moves it to another state. Stale nodes are never given to the placer.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tpdoctor.advice.placement import Group, PairTable, best_group
from tpdoctor.fleet.domains import NvlinkDomain
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.topology import Topology

State = tuple[int, frozenset[int]]  # (shape id, held GPUs)


def _v(x: Any) -> Any:
    return x if isinstance(x, (int, float, str)) or x is None else str(x)


class Shapes:
    """Shape ids of node topologies: equal ids, equal placement and cost-model inputs."""

    def __init__(self) -> None:
        self.ids: dict[tuple[Any, ...], int] = {}
        self.topologies: list[Topology] = []
        self.tables: list[PairTable] = []
        self._links: dict[int, tuple[object, tuple[Any, ...]]] = {}  # id(links tuple) -> (tuple, key)

    def _links_key(self, topo: Topology) -> tuple[Any, ...]:
        hit = self._links.get(id(topo.links))
        if hit is not None and hit[0] is topo.links:
            return hit[1]
        key = tuple((lk.a, lk.b, lk.path, lk.nvlinks, _v(lk.nvlinks_expected), lk.health.value,
                     _v(lk.nominal_gbps), lk.busbw_gbps, _v(lk.p2p), _v(lk.pcie_path)) for lk in topo.links)
        self._links[id(topo.links)] = (topo.links, key)
        return key

    def shape_of(self, topo: Topology, bench: Sequence[BenchResult] = ()) -> int:
        key = (
            tuple((g.index, g.name, _v(g.memory_mib), _v(g.numa_node), g.status) for g in topo.gpus),
            tuple((n.index, _v(n.name)) for n in topo.nics),
            self._links_key(topo),
            tuple((r.group, r.bytes, r.busbw_gbps, r.correct, r.error) for r in bench),
        )
        sid = self.ids.get(key)
        if sid is None:
            sid = self.ids[key] = len(self.topologies)
            self.topologies.append(topo)
            self.tables.append(PairTable(topo))
        return sid


class Placer:
    """Free GPUs of the usable nodes, and the best free group of N GPUs on one node or anywhere."""

    def __init__(self, nodes: Iterable[tuple[str, Topology, Sequence[BenchResult]]],
                 shapes: Shapes | None = None, domains: Sequence[NvlinkDomain] = ()) -> None:
        self.shapes = shapes or Shapes()
        # multi-node NVLink domains: fully healthy ones first, then by id; a multi-node job's nodes come from
        # one domain's healthy members when one has room (fleet/assign.py)
        self.domains = tuple(sorted(domains, key=lambda d: (len(d.unhealthy) > 0, d.id)))
        self.domain_of = {h: d for d in self.domains for h in d.hosts}
        self._no_room: set[tuple[str, int, int]] = set()  # (domain, n, want) that had no room: GPUs only get held
        self.shape: dict[str, int] = {}
        self.held: dict[str, frozenset[int]] = {}
        self.states: dict[State, list[str]] = {}  # hosts in each state, sorted
        self._best: dict[tuple[State, int], Group | None] = {}
        self._elsewhere: dict[tuple[int, str | None], tuple[str, Group] | None] = {}  # until GPUs are held
        for host, topo, bench in nodes:
            sid = self.shapes.shape_of(topo, bench)
            self.shape[host] = sid
            self.held[host] = frozenset()
            self.states.setdefault((sid, frozenset()), []).append(host)
        for hosts in self.states.values():
            hosts.sort()

    def __contains__(self, host: object) -> bool:
        return host in self.shape

    def table(self, host: str) -> PairTable:
        return self.shapes.tables[self.shape[host]]

    def _group(self, state: State, n: int) -> Group | None:
        key = (state, n)
        if key not in self._best:
            sid, held = state
            self._best[key] = best_group(self.shapes.topologies[sid], n, exclude=held,
                                         table=self.shapes.tables[sid])
        return self._best[key]

    def best_on(self, host: str, n: int) -> Group | None:
        """The best free group of n GPUs on this node (None when fewer are free)."""
        return self._group((self.shape[host], self.held[host]), n)

    def best_anywhere(self, n: int, *, exclude: Iterable[str] = (),
                      accept: Callable[[int], bool] = lambda sid: True) -> tuple[str, Group] | None:
        """The best free group of n GPUs in the fleet: best weakest path, then bandwidth, then NUMA
        locality, then the host name; `accept(shape id)` filters nodes (e.g. the model must fit)."""
        skip = set(exclude)
        best: tuple[Any, str, Group] | None = None
        for state, hosts in self.states.items():
            if not hosts or not accept(state[0]):
                continue
            group = self._group(state, n)
            if group is None:
                continue
            host = next((h for h in hosts if h not in skip), None)
            if host is None:
                continue
            cand = (group.score, host, group)
            if best is None or cand[:2] < best[:2]:
                best = cand
        return (best[1], best[2]) if best is not None else None

    def best_elsewhere(self, n: int, host: str) -> tuple[str, Group] | None:
        """`best_anywhere(n, exclude=[host])`, remembered until GPUs are next held. Excluding a host other than
        the fleet's best one changes nothing: that host's candidate stays first in its state and smallest."""
        if (n, None) not in self._elsewhere:
            self._elsewhere[(n, None)] = self.best_anywhere(n)
        best = self._elsewhere[(n, None)]
        if best is None or best[0] != host:
            return best
        if (n, host) not in self._elsewhere:
            self._elsewhere[(n, host)] = self.best_anywhere(n, exclude=[host])
        return self._elsewhere[(n, host)]

    def best_in_domain(self, domain: NvlinkDomain, n: int, want: int, *, exclude: Iterable[str] = (),
                       accept: Callable[[int], bool] = lambda sid: True) -> list[tuple[str, Group]] | None:
        """`want` healthy members of the domain with the best free group of n GPUs each (best groups first,
        then host name); None when fewer have room."""
        full = (domain.id, n, want)
        if full in self._no_room:
            return None
        skip = set(exclude)
        found = []
        rejected = False
        for host in domain.healthy_hosts:
            if host in skip or host not in self.shape:
                continue
            if not accept(self.shape[host]):
                rejected = True  # this deployment's model does not fit there; another's may
                continue
            group = self.best_on(host, n)
            if group is not None:
                found.append((group.score, host, group))
        if len(found) < want:
            if not skip and not rejected:  # no room for anyone: holding GPUs never gives it room again
                self._no_room.add(full)
            return None
        found.sort(key=lambda c: c[:2])
        return [(host, group) for _, host, group in found[:want]]

    def hold(self, host: str, gpus: Iterable[int]) -> None:
        """Mark GPUs of a node as taken (by a deployment of this run)."""
        if host not in self.shape:
            return
        old = (self.shape[host], self.held[host])
        new_held = self.held[host] | frozenset(gpus)
        if new_held == old[1]:
            return
        self._elsewhere.clear()
        hosts = self.states[old]
        del hosts[bisect.bisect_left(hosts, host)]
        if not hosts:
            del self.states[old]
        self.held[host] = new_held
        bisect.insort(self.states.setdefault((old[0], new_held), []), host)
