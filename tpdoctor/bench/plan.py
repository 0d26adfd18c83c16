"""What to measure, as rounds of rank groups: groups inside a round run concurrently, rounds run in turn.

Ranks are positions 0..n−1 in the launched world; the runner maps them to GPU indices. All-pairs mode uses
the round-robin (circle) schedule: for even n, n−1 rounds of n/2 disjoint pairs cover every pair once
(n(n−1)/2 pairs in n−1 rounds instead of n(n−1)/2 sequential runs); odd n takes n rounds with one idle rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

Group = tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    rounds: tuple[tuple[Group, ...], ...]
    label: str  # node | group | groups | pairs

    @property
    def groups(self) -> tuple[Group, ...]:
        return tuple(g for rnd in self.rounds for g in rnd)

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(sorted({r for g in self.groups for r in g}))

    def without(self, drop: set[Group]) -> Plan:
        """The same schedule minus some groups; rounds left empty disappear."""
        rounds = tuple(tuple(g for g in rnd if g not in drop) for rnd in self.rounds)
        return Plan(rounds=tuple(r for r in rounds if r), label=self.label)


def _check_group(group: Group, world_size: int) -> None:
    if len(group) < 2:
        raise ValueError(f"a group needs at least two ranks, got {list(group)}")
    if len(set(group)) != len(group):
        raise ValueError(f"a group lists a rank twice: {list(group)}")
    bad = [r for r in group if r < 0 or r >= world_size]
    if bad:
        raise ValueError(f"ranks {bad} outside the world of {world_size}")


def plan_node(world_size: int) -> Plan:
    """One group of every rank."""
    group = tuple(range(world_size))
    _check_group(group, world_size)
    return Plan(rounds=((group,),), label="node")


def plan_groups(groups: list[Group] | tuple[Group, ...], world_size: int) -> Plan:
    """Each group (e.g. each TP group of a deployment) on its own, one after the other."""
    if not groups:
        raise ValueError("no groups to measure")
    for g in groups:
        _check_group(g, world_size)
    label = "group" if len(groups) == 1 else "groups"
    return Plan(rounds=tuple((tuple(g),) for g in groups), label=label)


def round_robin_pairs(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Circle method: fix rank 0, rotate the rest; every pair exactly once, pairs in a round disjoint."""
    if n < 2:
        raise ValueError(f"pairs need at least two ranks, got {n}")
    players: list[int | None] = list(range(n)) + ([None] if n % 2 else [])
    m = len(players)
    rounds: list[tuple[tuple[int, int], ...]] = []
    for _ in range(m - 1):
        pairs = []
        for i in range(m // 2):
            a, b = players[i], players[m - 1 - i]
            if a is not None and b is not None:
                pairs.append((min(a, b), max(a, b)))
        rounds.append(tuple(sorted(pairs)))
        players = [players[0], players[-1], *players[1:-1]]
    return tuple(rounds)


def plan_pairs(world_size: int, *, sequential: bool = False) -> Plan:
    """Every pair of ranks: concurrent disjoint pairs in round-robin rounds, or one pair at a time."""
    if sequential:
        if world_size < 2:
            raise ValueError(f"pairs need at least two ranks, got {world_size}")
        return Plan(rounds=tuple((p,) for p in combinations(range(world_size), 2)), label="pairs")
    return Plan(rounds=round_robin_pairs(world_size), label="pairs")


def plan_group(group: Group, world_size: int) -> Plan:
    """A single group (e.g. `--gpus 0,1`)."""
    return plan_groups([group], world_size)
