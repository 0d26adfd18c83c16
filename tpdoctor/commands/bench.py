"""`tpdoctor bench`: all-reduce busbw of one group, several groups, every GPU pair, or the whole node;
with `--nnodes`, this node's share of a multi-node benchmark through torchrun (node pairs and the whole job).

torch is imported only by the benchmark's ranks and, lazily, `tpdoctor.bench.backend`; without it the command
exits 3 with the install line.
"""

from __future__ import annotations

from typing import Any

import click

from tpdoctor.bench.multinode import MultiNodeRequest, parse_endpoint, run_node_request
from tpdoctor.bench.session import BenchRequest, run_request
from tpdoctor.commands._bounded import Bounded
from tpdoctor.model.safetext import clean
from tpdoctor.model.settings import BENCH_STARTUP, BENCH_STEP
from tpdoctor.model.sizes import DEFAULT_SIZES_CPU, DEFAULT_SIZES_GPU, format_size
from tpdoctor.model.topology import Topology
from tpdoctor.probes import replay


def _parse_group(text: str) -> tuple[int, ...]:
    try:
        group = tuple(int(x) for x in text.replace("+", ",").split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma list of GPU indices",
                                 param_hint="--gpus") from None
    if len(group) < 2 or len(set(group)) != len(group) or min(group) < 0:
        raise click.BadParameter(f"{text!r}: a group is two or more distinct GPU indices",
                                 param_hint="--gpus")
    return group


def _load_topology(path: str) -> Topology:
    """A topology to attach results to: a `topo -m` capture, a collect directory or a tpdoctor/v1 report."""
    return replay.load(path)


def _multi_node(nnodes: int | None, node_rank: int | None, endpoint: str | None, nproc: int | None,
                groups: tuple[tuple[int, ...], ...], world_size: int | None, sequential: bool, pairs: bool,
                node: bool) -> MultiNodeRequest | None:
    """The multi-node options, checked together; None for a single-node run."""
    if nnodes is None:
        given = [name for name, v in (("--node-rank", node_rank), ("--rdzv-endpoint", endpoint),
                                      ("--nproc-per-node", nproc)) if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} go with --nnodes (a multi-node benchmark)")
        return None
    if node_rank is None or endpoint is None:
        raise click.UsageError("--nnodes needs --node-rank and --rdzv-endpoint HOST:PORT (node 0's address)")
    for name, bad in (("--gpus", bool(groups)), ("--world-size", world_size is not None),
                      ("--sequential", sequential)):
        if bad:
            raise click.UsageError(f"{name} is for one node; with --nnodes use --nproc-per-node, --pairs, --node")
    try:
        parse_endpoint(endpoint)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--rdzv-endpoint "), param_hint="--rdzv-endpoint") \
            from None
    if node_rank >= nnodes:
        raise click.BadParameter(f"{node_rank} is outside 0..{nnodes - 1}", param_hint="--node-rank")
    return MultiNodeRequest(nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=endpoint, nproc_per_node=nproc,
                            pairs=not node, job=not pairs)


def _progress(event: dict[str, Any]) -> None:
    """One stderr line per measured size of each group, TTY or not (a Slurm or cron log shows progress)."""
    if event["event"] == "result":
        r = event["result"]
        hosts = r.get("hosts") or []
        unit = "rank" if r.get("backend") == "gloo" else "GPU"
        group = "+".join(f"{hosts[k]}:rank{i}" if len(set(hosts)) > 1 else f"{unit}{i}"
                         for k, i in enumerate(r["group"]))
        click.echo(f"tpdoctor bench: {clean(group)} {format_size(r['bytes']):>5}: busbw {r['busbw_gbps']:.3f} GB/s",
                   err=True)


@click.command("bench")
@click.option("--gpus", "gpu_groups", multiple=True, metavar="I,J[,…]",
              help="Measure this GPU group (repeat for each TP group).")
@click.option("--pairs", is_flag=True,
              help="Measure every GPU pair (disjoint pairs concurrently, in rounds).")
@click.option("--node", is_flag=True, help="Measure one group of every GPU (the default).")
@click.option("--sequential", is_flag=True,
              help="With --pairs: one pair at a time (when concurrent pairs would share a bottleneck).")
@click.option("--backend", type=click.Choice(["auto", "nccl", "gloo"]), default="auto", show_default=True,
              help="nccl on GPUs, gloo for CPU ranks; auto picks nccl when CUDA GPUs are visible.")
@click.option("--world-size", type=click.IntRange(min=2), default=None,
              help="Number of ranks (gloo: simulated ranks on this host).")
@click.option("--sizes", default=None,
              help=f"Message sizes: 8,1K,1M,64M or a range lo:hi[:factor] "
                   f"[default: {DEFAULT_SIZES_GPU} on GPUs, {DEFAULT_SIZES_CPU} on CPU].")
@click.option("--iters", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed iterations per size.")
@click.option("--warmup", type=click.IntRange(min=1), default=5, show_default=True,
              help="Warm-up iterations per size (the first also checks the result).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32",
              show_default=True, help="Element type of the all-reduced tensor.")
@click.option("--timeout", "timeout_seconds", type=Bounded(BENCH_STEP), default=60.0,
              show_default=True,
              help="Watchdog: seconds one size of one group may take before the group counts as hung.")
@click.option("--startup-timeout", "startup_seconds", type=Bounded(BENCH_STARTUP), default=120.0,
              show_default=True, help="Seconds for every rank to start and join.")
@click.option("--from", "from_path", default=None, metavar="PATH",
              help="Topology to attach pairwise busbw to (topo -m capture, collect dir or report JSON; - reads "
                   "standard input).")
@click.option("--nnodes", type=click.IntRange(min=2), default=None,
              help="Multi-node: number of nodes; run this on every node (through torchrun). Measures node "
                   "pairs (local rank 0 of each) and the whole job; --pairs or --node for one of them.")
@click.option("--node-rank", type=click.IntRange(min=0), default=None,
              help="Multi-node: this node's rank, 0..nnodes−1 (node 0 hosts the rendezvous).")
@click.option("--rdzv-endpoint", default=None, metavar="HOST:PORT",
              help="Multi-node: node 0's address and a free port there, the same on every node.")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=None,
              help="Multi-node: ranks per node [default: every visible GPU with nccl, 1 with gloo].")
@click.option("--json", "as_json", is_flag=True, help="Print a tpdoctor/v1 report (results in `bench`).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr (one per measured size).")
def command(gpu_groups: tuple[str, ...], pairs: bool, node: bool, sequential: bool, backend: str,
            world_size: int | None, sizes: str | None, iters: int, warmup: int, dtype: str,
            timeout_seconds: float, startup_seconds: float, from_path: str | None, nnodes: int | None,
            node_rank: int | None, rdzv_endpoint: str | None, nproc_per_node: int | None,
            as_json: bool, quiet: bool) -> int:
    """All-reduce microbenchmark (nccl-tests conventions: algbw = bytes/time, busbw = algbw·2(n−1)/n).

    Exit: 0 all measured and correct; 2 a group hung, a rank died or a result was wrong (the result
    carries `error` naming the group); 3 cannot run (torch missing, bad arguments, fewer than two ranks, a
    GPU CUDA cannot see, --from a capture of another host) or stopped by SIGTERM, SIGINT or SIGHUP (every rank is killed
    first). The JSON report is judged like `scan` (TPD109 for a failed measurement, every node rule on a
    --from capture): its `status` is the node's verdict, which is what `fleet` shows.
    """
    groups = tuple(_parse_group(g) for g in gpu_groups)
    if sum((bool(groups), pairs, node)) > 1:
        raise click.UsageError("choose one of --gpus, --pairs, --node")
    if sequential and not pairs:
        raise click.UsageError("--sequential goes with --pairs")
    multi = _multi_node(nnodes, node_rank, rdzv_endpoint, nproc_per_node, groups, world_size, sequential,
                        pairs, node)
    request = BenchRequest(groups=groups, pairs=pairs, sequential=sequential, backend=backend,
                           world_size=world_size, sizes=sizes, iters=iters, warmup=warmup, dtype=dtype,
                           timeout_seconds=timeout_seconds, startup_timeout_seconds=startup_seconds)
    topology = _load_topology(from_path) if from_path else None
    if topology is not None and from_path:
        from tpdoctor.node.read import require_this_host

        require_this_host(topology, from_path, option="bench --from")
    hook = None if quiet else _progress
    if multi is not None:
        report = run_node_request(request, multi, topology, on_event=hook)
    else:
        report = run_request(request, topology, on_event=hook)
    from tpdoctor.node.verdict import report_for

    code = int(report.status.exit_code)  # the measurements' verdict: 2 when a group failed
    report = report_for(report.topology, report.bench)  # the node's verdict, as scan gives it: fleet reads it
    if as_json:
        from tpdoctor.model.contract import render

        click.echo(render(report), nl=False)
    else:
        from tpdoctor.report.bench_text import render_bench
        from tpdoctor.report.terminal import terminal

        terminal().print(render_bench(report.bench, report.topology))
    return code
