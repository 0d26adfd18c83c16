"""A node's place in a multi-node benchmark, and which groups cross the network between nodes.

Every node of the job runs `tpdoctor bench --nnodes N --node-rank R --rdzv-endpoint HOST:PORT`; torchrun
(`torchrun.py`) starts `--nproc-per-node` ranks on each, global rank = R·K + local rank. Two kinds of group
cross the network between nodes (path NET):

- node pairs: local rank 0 of node A with local rank 0 of node B, for every pair of nodes, disjoint pairs
  at once in round-robin rounds (n−1 rounds for n nodes), label `node-pairs`;
- the whole job: every rank of every node in one group, label `job` (skipped when it is the same group as
  the only pair: two nodes of one rank each).
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.bench.plan import Group, Plan, round_robin_pairs

PAIRS_LABEL = "node-pairs"
JOB_LABEL = "job"


def parse_endpoint(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6addr]:PORT`) -> (host, port); raises ValueError naming the text."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--rdzv-endpoint {text!r} is not HOST:PORT (e.g. node-0.cluster:29500)")
    return host, int(port)


@dataclass(frozen=True)
class NodeJob:
    """This node's place in a multi-node benchmark."""

    nnodes: int
    node_rank: int
    nproc_per_node: int
    rdzv_endpoint: str  # HOST:PORT of node 0, where torchrun's rendezvous store listens
    host: str  # this node's name in the results (the report's host)
    pairs: bool = True  # measure node pairs
    job: bool = True  # measure the whole job

    def __post_init__(self) -> None:
        parse_endpoint(self.rdzv_endpoint)
        if self.nnodes < 2:
            raise ValueError(f"a multi-node benchmark needs at least two nodes, got --nnodes {self.nnodes}")
        if not 0 <= self.node_rank < self.nnodes:
            raise ValueError(f"--node-rank {self.node_rank} is outside 0..{self.nnodes - 1}")
        if self.nproc_per_node < 1:
            raise ValueError(f"--nproc-per-node must be at least 1, got {self.nproc_per_node}")
        if not (self.pairs or self.job):
            raise ValueError("nothing to measure: neither node pairs nor the whole job")

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    @property
    def my_ranks(self) -> frozenset[int]:
        first = self.node_rank * self.nproc_per_node
        return frozenset(range(first, first + self.nproc_per_node))

    def node_of(self, rank: int) -> int:
        return rank // self.nproc_per_node


@dataclass(frozen=True)
class NodePlan:
    plan: Plan
    labels: tuple[str, ...]  # one per round

    def mine(self, job: NodeJob) -> tuple[Group, ...]:
        """The groups with at least one rank on this node."""
        return tuple(g for g in self.plan.groups if job.my_ranks.intersection(g))


def node_plan(nnodes: int, nproc_per_node: int, *, pairs: bool = True, job: bool = True) -> NodePlan:
    rounds: list[tuple[Group, ...]] = []
    labels: list[str] = []
    if pairs:
        for rnd in round_robin_pairs(nnodes):
            rounds.append(tuple((a * nproc_per_node, b * nproc_per_node) for a, b in rnd))
            labels.append(PAIRS_LABEL)
    whole = tuple(range(nnodes * nproc_per_node))
    if job and not any(whole in rnd for rnd in rounds):
        rounds.append((whole,))
        labels.append(JOB_LABEL)
    return NodePlan(Plan(rounds=tuple(rounds), label="nodes"), tuple(labels))
