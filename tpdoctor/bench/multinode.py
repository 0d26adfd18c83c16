"""The multi-node benchmark use case: this node's report of the groups that cross the network.

Each node's report holds the results of every group one of its ranks belongs to, each result naming the
host of every member (`hosts`), so `tpdoctor fleet` over the nodes' reports shows the NET paths. What is
measured (node pairs, the whole job) is planned in `nodes.py`; torchrun is launched and watched in
`torchrun.py`. `NodeJob`, `NodePlan`, `node_plan` and `parse_endpoint` are importable from here as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpdoctor.bench.nodes import JOB_LABEL, PAIRS_LABEL, NodeJob, NodePlan, node_plan, parse_endpoint
from tpdoctor.bench.session import BenchRequest, checked, minimal_topology, runner_options
from tpdoctor.model.errors import BenchError
from tpdoctor.model.findings import Report, Status
from tpdoctor.model.topology import Topology

__all__ = ["JOB_LABEL", "PAIRS_LABEL", "MultiNodeRequest", "NodeJob", "NodePlan", "node_plan", "parse_endpoint",
           "run_node_request"]


@dataclass(frozen=True)
class MultiNodeRequest:
    """The multi-node options of `tpdoctor bench`; the rest (sizes, deadlines…) is a `BenchRequest`."""

    nnodes: int
    node_rank: int
    rdzv_endpoint: str
    nproc_per_node: int | None = None  # None: every visible GPU (nccl), one rank (gloo)
    pairs: bool = True
    job: bool = True


def run_node_request(request: BenchRequest, multi: MultiNodeRequest, topology: Topology | None = None,
                     on_event: Callable[[dict[str, Any]], None] | None = None) -> Report:
    """This node's report of a multi-node benchmark: its topology (given, or its ranks as GPUs), the results
    of every group with a rank here in `bench`, status critical when a group failed (its error names it)."""
    from tpdoctor.bench import backend, torchrun

    resolved = backend.resolve_backend(request.backend)
    options = runner_options(request, resolved)
    nproc = multi.nproc_per_node
    if nproc is None:
        nproc = backend.cuda_device_count() if resolved == "nccl" else 1
        if nproc == 0:
            raise BenchError("no CUDA GPU is visible to PyTorch",
                             hint="run on the GPU node, or use CPU ranks: --backend gloo --nproc-per-node N")
    base = topology or minimal_topology(tuple(range(nproc)), resolved)
    try:
        job = NodeJob(nnodes=multi.nnodes, node_rank=multi.node_rank, nproc_per_node=nproc,
                      rdzv_endpoint=multi.rdzv_endpoint, host=base.host, pairs=multi.pairs, job=multi.job)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    nplan = node_plan(job.nnodes, job.nproc_per_node, pairs=job.pairs, job=job.job)
    results, bad = checked(torchrun.run_node(job, nplan, options, on_event=on_event))
    return Report(topology=base, bench=results, status=Status.CRITICAL if bad else Status.OK)
