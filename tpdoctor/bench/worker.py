"""One rank of the all-reduce benchmark (imports torch). Run by the runner, or by torchrun across nodes:

    torchrun --nnodes 2 --nproc-per-node 8 ... -m tpdoctor.bench.worker --backend nccl --sizes 8:1G

Reads RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT (and torchrun's GROUP_RANK, the node)
from the environment (env:// rendezvous), runs the plan's rounds (groups of ranks; default one group of
the whole world), and for each group and size does what nccl-tests does: warm-up, an untimed correctness
pass, then timed in-place iterations with device synchronisation; the time is averaged over the group's
ranks. After joining, the ranks exchange their host names (`TPDOCTOR_HOST`, default the hostname) so every
result records the host and LOCAL_RANK of each member; local rank 0 of each node prints them as a `world`
event. On each node, a group's lowest local member prints `start`/`result` events (see `events.py`), so
the watcher on every node the group spans sees its progress; with `--out FILE` local rank 0 of each node
writes every rank's results as JSON (temp file, then rename; use a per-node path on a shared filesystem).

With NCCL each rank uses CUDA device `--cuda-devices[rank]` (default `--devices[rank]`, else LOCAL_RANK) and
reports that device's PCI bus id in its `ready` event (see `devices.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from tpdoctor.bench.events import encode
from tpdoctor.files.atomic import write_atomic
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import measured
from tpdoctor.model.codec import to_data
from tpdoctor.model.safetext import clean, kernel_host
from tpdoctor.model.sizes import parse_sizes

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
PATTERN_PERIOD = 13  # element i of rank r holds (r+1)·(i mod 13 + 1): exact sums in float32


def emit(event: dict[str, Any]) -> None:
    print(encode(event), flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tpdoctor.bench.worker", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["nccl", "gloo"], default="nccl")
    p.add_argument("--sizes", default="8:1G", help="e.g. 8,1K,1M,64M or a range 8:1G[:factor]")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--plan", default=None,
                   help="rounds of rank groups as JSON, e.g. [[[0,1],[2,3]],[[0,2],[1,3]]]; default: all")
    p.add_argument("--devices", default=None,
                   help="GPU index of each rank (comma list, by rank); default: LOCAL_RANK on each node")
    p.add_argument("--cuda-devices", default=None,
                   help="CUDA ordinal of each rank (comma list, by rank); default: --devices, else LOCAL_RANK")
    p.add_argument("--label", default=None)
    p.add_argument("--labels", default=None,
                   help="a label per round as a JSON list (overrides --label round by round)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="torch.distributed's own collective timeout (s)")
    p.add_argument("--out", default=None,
                   help="local rank 0 of each node writes every rank's results here as JSON")
    args = p.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        p.error("--iters must be >= 1 and --warmup >= 0")
    return args


class Rank:
    """This process's place in the world: rank, device, and how to wait for the device."""

    def __init__(self, backend: str, devices: list[int] | None, cuda_devices: list[int] | None = None) -> None:
        self.rank = int(os.environ["RANK"])
        self.world_size = int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
        self.backend = backend
        self.labels = devices if devices is not None and len(devices) == self.world_size \
            else list(range(self.world_size))
        if backend == "nccl":
            ordinals = next((d for d in (cuda_devices, devices) if d is not None and len(d) == self.world_size),
                            None)
            self.device = torch.device("cuda", ordinals[self.rank] if ordinals is not None else self.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")

    def pci_bus_id(self) -> str | None:
        """The PCI bus id of this rank's GPU (`0000:18:00.0`), None on CPU or when torch does not say."""
        if self.device.type != "cuda":
            return None
        props = torch.cuda.get_device_properties(self.device)
        try:
            return f"{props.pci_domain_id:04x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"  # type: ignore[attr-defined]
        except AttributeError:
            return None

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _pattern(count: int, member: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    base = torch.arange(count, device=device, dtype=torch.int64) % PATTERN_PERIOD + 1
    return (base * (member + 1)).to(dtype)


def _expected(count: int, ranks: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    base = torch.arange(count, device=device, dtype=torch.int64) % PATTERN_PERIOD + 1
    return (base * (ranks * (ranks + 1) // 2)).to(dtype)


def _matches(got: torch.Tensor, want: torch.Tensor) -> bool:
    if got.dtype == torch.float32:
        return bool(torch.equal(got, want))
    return bool(torch.allclose(got.float(), want.float(), rtol=1e-2, atol=0.0))


def measure_size(me: Rank, pg: Any, members: int, position: int, nbytes: int, *, iters: int, warmup: int,
                 dtype: torch.dtype) -> tuple[int, float, bool]:
    """One size on one group: (bytes actually reduced, mean time per all-reduce in µs over ranks, correct)."""
    elem = torch.tensor([], dtype=dtype).element_size()
    count = max(1, nbytes // elem)
    buf = _pattern(count, position, dtype, me.device)
    dist.all_reduce(buf, group=pg)  # correctness pass: also the first warm-up iteration
    me.sync()
    ok = _matches(buf, _expected(count, members, dtype, me.device))
    buf.zero_()  # timed passes reduce zeros: no overflow after many in-place sums, still checkable after
    for _ in range(max(0, warmup - 1)):
        dist.all_reduce(buf, group=pg)
    me.sync()
    dist.all_reduce(torch.zeros(1, device=me.device), group=pg)  # line the ranks up before the clock
    me.sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(buf, group=pg)
    me.sync()
    elapsed_us = (time.perf_counter() - t0) / iters * 1e6
    ok = ok and not bool(buf.any())
    summary = torch.tensor([elapsed_us, 0.0 if ok else 1.0], dtype=torch.float64, device=me.device)
    dist.all_reduce(summary, group=pg)  # nccl-tests' default: average the time over ranks
    me.sync()
    return count * elem, float(summary[0]) / members, float(summary[1]) == 0.0


def this_host() -> str:
    return clean(os.environ["TPDOCTOR_HOST"], 253) if os.environ.get("TPDOCTOR_HOST") else kernel_host()


def _world(me: Rank) -> list[dict[str, Any]]:
    """Every rank's host, node (torchrun's GROUP_RANK; 0 when launched without torchrun) and LOCAL_RANK."""
    mine = {"rank": me.rank, "host": this_host(), "node": int(os.environ.get("GROUP_RANK", "0")),
            "local_rank": me.local_rank}
    return sorted(_all_gather_json(mine, me.device), key=lambda w: int(w["rank"]))


def _local_leader(group: tuple[int, ...], me: Rank, world: list[dict[str, Any]]) -> bool:
    """True on the lowest member of `group` that runs on this node."""
    here = world[me.rank]["node"]
    return me.rank == min(r for r in group if world[r]["node"] == here)


def _ints(text: str | None) -> list[int] | None:
    return [int(x) for x in text.split(",")] if text else None


def run(args: argparse.Namespace) -> list[BenchResult]:
    me = Rank(args.backend, _ints(args.devices), _ints(args.cuda_devices))
    dtype = DTYPES[args.dtype]
    sizes = parse_sizes(args.sizes)
    emit({"event": "launched", "rank": me.rank, "pid": os.getpid()})  # torch imported, before rendezvous
    dist.init_process_group(args.backend, rank=me.rank, world_size=me.world_size,
                            timeout=timedelta(seconds=args.timeout),
                            device_id=me.device if args.backend == "nccl" else None)
    emit({"event": "ready", "rank": me.rank, "pid": os.getpid(), "pci_bus_id": me.pci_bus_id()})
    world = _world(me)
    if me.local_rank == 0:
        emit({"event": "world", "rank": me.rank, "world": world})
    rounds: list[list[list[int]]] = json.loads(args.plan) if args.plan else [[list(range(me.world_size))]]
    labels: list[str | None] = json.loads(args.labels) if args.labels else [args.label] * len(rounds)
    groups = {tuple(g) for rnd in rounds for g in rnd}
    whole = tuple(range(me.world_size))
    # every rank creates every subgroup, in the same order (torch.distributed requires it)
    pgs = {g: (dist.group.WORLD if g == whole else dist.new_group(list(g))) for g in sorted(groups)}
    results: list[BenchResult] = []
    for index, rnd in enumerate(rounds):
        _world_barrier(me)
        if me.local_rank == 0:  # liveness for a node that sits this round out
            emit({"event": "round", "rank": me.rank, "round": index})
        mine = next((tuple(g) for g in rnd if me.rank in g), None)
        if mine is None:
            continue
        gpus = tuple(me.labels[r] for r in mine)
        hosts = tuple(str(world[r]["host"]) for r in mine)
        local_ranks = tuple(int(world[r]["local_rank"]) for r in mine)
        leader = _local_leader(mine, me, world)
        for nbytes in sizes:
            if leader:
                emit({"event": "start", "group": list(gpus), "bytes": nbytes, "round": index})
            actual, time_us, ok = measure_size(me, pgs[mine], len(mine), mine.index(me.rank), nbytes,
                                               iters=args.iters, warmup=args.warmup, dtype=dtype)
            result = measured(gpus, args.backend, actual, time_us, correct=ok, iterations=args.iters,
                              dtype=args.dtype, label=labels[index],
                              round_index=index if len(rounds) > 1 else None, concurrent_groups=len(rnd),
                              hosts=hosts, local_ranks=local_ranks)
            if me.rank == mine[0]:
                results.append(result)
            if leader:
                emit({"event": "result", "round": index, "requested_bytes": nbytes,
                      "result": to_data(result)})
    _world_barrier(me)
    return results


def _world_barrier(me: Rank) -> None:
    dist.all_reduce(torch.zeros(1, device=me.device))
    me.sync()


def _all_gather_json(value: Any, device: torch.device) -> list[Any]:
    """Every rank's JSON-able `value`, in rank order, on every rank.

    JSON bytes in a padded uint8 tensor; `all_gather_object` would need numpy and pickle.
    """
    payload = torch.tensor(list(json.dumps(value).encode()), dtype=torch.uint8, device=device)
    n = dist.get_world_size()
    lengths = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(n)]
    dist.all_gather(lengths, torch.tensor([payload.numel()], dtype=torch.int64, device=device))
    longest = max(int(t.item()) for t in lengths)
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: payload.numel()] = payload
    parts = [torch.zeros(longest, dtype=torch.uint8, device=device) for _ in range(n)]
    dist.all_gather(parts, padded)
    return [json.loads(bytes(part[: int(length.item())].tolist()).decode())
            for part, length in zip(parts, lengths)]


def _gather_results(results: list[BenchResult]) -> list[Any]:
    """Every rank's results (as JSON data) on every rank: results of groups led by other ranks reach all."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
        else torch.device("cpu")
    return [item for part in _all_gather_json(to_data(results), device) for item in part]


def _write_results(path: str, results: list[Any]) -> None:
    """The results file (0600, temp file with O_EXCL then rename, in the private directory torchrun.py made)."""
    write_atomic(Path(path), json.dumps(results, indent=2) + "\n", 0o600, what="benchmark results")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
        if args.out:
            gathered = _gather_results(results)
            if int(os.environ.get("LOCAL_RANK", dist.get_rank())) == 0:
                _write_results(args.out, gathered)
        emit({"event": "done", "rank": int(os.environ.get("RANK", "0"))})
        dist.destroy_process_group()
    except Exception as exc:  # reported to the runner, which names the group; exit non-zero
        emit({"event": "error", "rank": int(os.environ.get("RANK", "-1")), "pid": os.getpid(),
              "message": f"{type(exc).__name__}: {exc}".splitlines()[0][:500]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
