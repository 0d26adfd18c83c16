"""Reading a node for `scan`, `health` and `check-deployment`: a capture replayed, or this machine probed,
and with `bench` a short pairwise all-reduce measured on this machine.

One use case, so the three commands cannot drift apart in where a snapshot comes from. A benchmark always
measures *this* machine, so it is refused with a capture of another one: its numbers would be attached
to a host they were never measured on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import InputError
from tpdoctor.model.findings import Report
from tpdoctor.model.safetext import clean, kernel_host
from tpdoctor.model.topology import Topology

HOST_ENV = "TPDOCTOR_HOST"  # the name the benchmark gives this node (bench/worker.py), default the hostname


def this_host() -> str:
    return clean(os.environ.get(HOST_ENV), 253) if os.environ.get(HOST_ENV) else kernel_host()


def require_this_host(topology: Topology, from_path: str | Path, option: str = "--bench",
                      hostname: Callable[[], str] = this_host) -> None:
    """Raise InputError unless the capture at `from_path` was taken on this machine (its host is this
    machine's name: $TPDOCTOR_HOST when set, as the benchmark names its node, else the hostname)."""
    here = hostname()
    if topology.host != here:
        raise InputError(f"{option} measures this machine ({here}), but {from_path} is a capture of "
                         f"{topology.host or 'an unnamed host'}: the numbers would be attached to the wrong "
                         f"node; drop {option}, or run it on {topology.host or 'that node'}")


def read_node(from_path: str | Path | None, probe: str = "auto", timeout_seconds: float | None = None, *,
              bench: bool = False, hostname: Callable[[], str] = this_host) -> Report:
    """The node as one Report (topology, any bench results a saved report carried, findings unjudged).

    `from_path`: a raw `topo -m` capture, a collect directory or a tpdoctor/v1 JSON report; None probes
    this machine with `probe` (auto, nvml, smi). `bench` measures every GPU pair of *this* machine with a
    short all-reduce (torch is imported only there) and puts busbw on the links; with a capture of
    another host it is refused (InputError) before anything runs; with fewer than two readable GPUs it does
    not apply (a probe note says so, nothing is measured)."""
    if from_path is not None:
        from tpdoctor.probes.replay import load_report

        loaded = load_report(from_path)
        topology, results = loaded.topology, tuple(loaded.bench)
        if bench:
            require_this_host(topology, from_path, hostname=hostname)
    else:
        from tpdoctor.probes import probe_live

        topology, results = probe_live(probe, timeout_seconds=timeout_seconds), ()
    if bench:
        topology, measured = _bench(topology)
        results = results + measured
    return Report(topology=topology, bench=results)


def nothing_to_all_reduce(topology: Topology) -> str | None:
    """Why `--bench` has nothing to measure here (fewer than two readable GPUs), or None."""
    ok = [g for g in topology.gpus if g.status == "ok"]
    if len(ok) >= 2:
        return None
    what = f"{len(ok)} GPU" if len(ok) == len(topology.gpus) else f"{len(ok)} readable GPU"
    return f"{what}{'s' if len(ok) != 1 else ''}: nothing to all-reduce"


def _bench(topology: Topology) -> tuple[Topology, tuple[BenchResult, ...]]:
    """The short pairwise benchmark, or, on a node with fewer than two readable GPUs, none: a probe note says
    the benchmark did not apply (not measured, not failed) and the verdict rests on the rest of the report."""
    why = nothing_to_all_reduce(topology)
    if why is not None:
        note = f"--bench not applicable ({why}); no all-reduce measured"
        return replace(topology, probe_notes=(*topology.probe_notes, note)), ()
    from tpdoctor.bench.session import short_pairs_bench

    return short_pairs_bench(topology)
