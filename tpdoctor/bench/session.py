"""The benchmark use case: what to measure (a request), on which ranks, into a Report.

`tpdoctor bench` parses its options into a `BenchRequest` and calls `run_request`; `scan --bench` can do
the same with `pairs=True` and its probed Topology, and gets the Topology back with each measured pair's
busbw on its link. GPU indices are nvidia-smi's; with NCCL each rank gets the CUDA ordinal of its GPU
(`devices.py`), and a rank that reports another PCI bus id than the topology's is an error, never a result
filed under the wrong GPU. torch is reached only through `backend` and `runner` (lazily).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tpdoctor.bench.devices import map_devices, ran_elsewhere, visible_indices
from tpdoctor.bench.plan import Plan, plan_groups, plan_node, plan_pairs
from tpdoctor.model.attach import attach_busbw
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import BenchError
from tpdoctor.model.findings import Report, Status
from tpdoctor.model.safetext import kernel_host
from tpdoctor.model.sizes import DEFAULT_SIZES_CPU, DEFAULT_SIZES_GPU, parse_sizes
from tpdoctor.model.topology import Gpu, Topology

if TYPE_CHECKING:  # the launcher is imported lazily at run time
    from tpdoctor.bench.launch import BenchOptions, BenchRun


@dataclass(frozen=True)
class BenchRequest:
    groups: tuple[tuple[int, ...], ...] = ()  # GPU groups; empty: pairs or the whole node
    pairs: bool = False
    sequential: bool = False
    backend: str = "auto"  # auto | nccl | gloo
    world_size: int | None = None
    sizes: str | None = None  # None: the backend's default sweep
    iters: int = 20
    warmup: int = 5
    dtype: str = "float32"
    timeout_seconds: float = 60.0
    startup_timeout_seconds: float = 120.0


def minimal_topology(devices: tuple[int, ...], backend: str, ordinals: Sequence[int] | None = None,
                     pci_bus_ids: Sequence[str | None] = ()) -> Topology:
    """No probe ran: the ranks as GPUs with names (CUDA's, at each rank's ordinal) and the PCI bus id each
    rank reported, no links (so nothing is claimed about paths)."""
    names: dict[int, str] = {}
    if backend == "nccl":
        from tpdoctor.bench.backend import cuda_device_name

        names = {d: cuda_device_name(ordinals[i] if ordinals is not None else d) for i, d in enumerate(devices)}
    bus = dict(enumerate(pci_bus_ids))
    gpus = tuple(_gpu(d, names.get(d, f"{backend} rank {i}"), bus.get(i)) for i, d in enumerate(devices))
    return Topology(host=kernel_host(), source="bench",
                    captured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), gpus=gpus)


def _gpu(index: int, name: str, pci_bus_id: str | None) -> Gpu:
    return Gpu(index=index, name=name, pci_bus_id=pci_bus_id) if pci_bus_id else Gpu(index=index, name=name)


def choose_devices(backend: str, world_size: int | None, groups: tuple[tuple[int, ...], ...],
                   topology: Topology | None, visible_gpus: Callable[[], int],
                   env: Mapping[str, str] = os.environ) -> tuple[int, ...]:
    """The GPU index behind each rank: the union of the groups, or every visible GPU / simulated rank.
    With nccl, "visible" is what CUDA sees (CUDA_VISIBLE_DEVICES read as `devices.py` says)."""
    if backend == "nccl":
        count = visible_gpus()
        if count == 0:
            raise BenchError("no CUDA GPU is visible to PyTorch",
                             hint="run on the GPU node, or simulate CPU ranks: --backend gloo --world-size N")
        visible = visible_indices(env, count, topology.gpus if topology is not None else ())
        if world_size is not None and world_size > len(visible):
            raise BenchError(f"--world-size {world_size} but only {len(visible)} GPUs are visible")
        if groups:  # a GPU CUDA does not see is named by cuda_devices()
            return tuple(sorted({i for g in groups for i in g}))
        available = visible[: world_size or len(visible)]
    elif topology is not None and topology.gpus and world_size in (None, len(topology.gpus)):
        available = tuple(sorted(g.index for g in topology.gpus))  # simulated ranks stand in for these GPUs
    else:
        n = world_size or (max(max(g) for g in groups) + 1 if groups else 2)
        available = tuple(range(n))
    if groups:
        wanted = sorted({i for g in groups for i in g})
        missing = [i for i in wanted if i not in available]
        if missing:
            raise BenchError(f"GPU index {missing} not among the {len(available)} ranks (--world-size)")
        return tuple(wanted)
    if len(available) < 2:
        raise BenchError(f"an all-reduce needs at least two ranks; {len(available)} available")
    return available


def cuda_devices(backend: str, devices: tuple[int, ...], topology: Topology | None, visible_gpus: Callable[[], int],
                 env: Mapping[str, str] = os.environ) -> tuple[int, ...] | None:
    """The CUDA ordinal of each rank's GPU (nccl; None for gloo, whose ranks use no GPU)."""
    if backend != "nccl":
        return None
    return map_devices(devices, env, visible_gpus(), topology.gpus if topology is not None else ())


def make_plan(devices: tuple[int, ...], request: BenchRequest) -> Plan:
    rank = {d: i for i, d in enumerate(devices)}
    if request.groups:
        return plan_groups([tuple(rank[d] for d in g) for g in request.groups], len(devices))
    if request.pairs:
        return plan_pairs(len(devices), sequential=request.sequential)
    return plan_node(len(devices))


def runner_options(request: BenchRequest, backend: str) -> BenchOptions:
    """The launcher's options for a request: its sizes (the backend's default sweep) and deadlines."""
    from tpdoctor.bench.launch import BenchOptions

    try:
        sizes = parse_sizes(request.sizes or (DEFAULT_SIZES_GPU if backend == "nccl" else DEFAULT_SIZES_CPU))
    except ValueError as exc:
        raise BenchError(f"--sizes: {exc}") from None
    return BenchOptions(backend=backend, sizes=sizes, iters=request.iters, warmup=request.warmup,
                        dtype=request.dtype, timeout_seconds=request.timeout_seconds,
                        startup_timeout_seconds=request.startup_timeout_seconds)


def checked(run: BenchRun) -> tuple[tuple[BenchResult, ...], bool]:
    """A run's results and whether any failed (error or wrong sum); a process that survived the kill is a
    BenchError, never silently left behind."""
    if run.leftover_pids:
        raise BenchError(f"benchmark processes {list(run.leftover_pids)} survived the kill",
                         hint="they are in their own sessions; kill them by pid")
    return run.results, any(r.error is not None or not r.correct for r in run.results)


def run_request(request: BenchRequest, topology: Topology | None = None,
                on_event: Callable[[dict[str, Any]], None] | None = None) -> Report:
    """Measure, and return a Report: results in `bench`, pair busbw on the topology's links, status
    critical when a group hung, a rank died or a result was wrong (each such result names its group)."""
    from tpdoctor.bench import backend, runner

    resolved = backend.resolve_backend(request.backend)
    options = runner_options(request, resolved)
    devices = choose_devices(resolved, request.world_size, request.groups, topology, backend.cuda_device_count)
    ordinals = cuda_devices(resolved, devices, topology, backend.cuda_device_count)
    plan = make_plan(devices, request)
    run = runner.run_plan(plan, devices, options, on_event=on_event, cuda_devices=ordinals)
    results, bad = checked(run)
    wrong = ran_elsewhere(devices, run.pci_bus_ids, topology.gpus) if topology is not None else []
    if wrong:
        raise BenchError(f"ranks ran on other GPUs than planned: {'; '.join(wrong)}",
                         hint="the CUDA device numbering differs from nvidia-smi's here; see docs/bench.md "
                              "(NVML index and CUDA ordinal)")
    base = topology or minimal_topology(devices, resolved, ordinals, run.pci_bus_ids)
    return Report(topology=attach_busbw(base, results), bench=results,
                  status=Status.CRITICAL if bad else Status.OK)


def short_pairs_bench(topology: Topology) -> tuple[Topology, tuple[BenchResult, ...]]:
    """A short pairwise all-reduce (one 256 MiB size with NCCL on GPUs, 4 MiB with gloo on CPU): enough to
    judge every pair's busbw (TPD106) in minutes at most; `scan --bench` and `health --bench` use it. A
    failed, hung or wrong run is a BenchError or a result with `error` set: never a hung command."""
    from tpdoctor.bench import backend

    size = "256M" if backend.resolve_backend("auto") == "nccl" else "4M"  # CPU ranks: keep it short
    report = run_request(BenchRequest(pairs=True, sizes=size, iters=10, warmup=3, timeout_seconds=60.0), topology)
    return report.topology, report.bench
