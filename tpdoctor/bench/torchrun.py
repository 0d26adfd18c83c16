"""Launch this node's share of a multi-node benchmark through torchrun, with the local ranks' launcher
(`launch.py`) and watcher (`watch.py`).

One `python -m torch.distributed.run` agent per node (static rendezvous: node R is node R, node 0 hosts the
store at the endpoint) starts the worker ranks; they print event lines on the agent's stdout. The agent runs
through `tpdoctor.bench.lifeline`, and so do the ranks it starts (`-m tpdoctor.bench.lifeline
tpdoctor.bench.worker ...`): a SIGKILLed `tpdoctor bench` takes its agent down, and the agent its ranks.

The deadlines are the watcher's, from this node's point of view; a node that sits a round out may see no
event for `timeout_seconds` × (sizes + 1). A deadline that passes, or torchrun exiting non-zero, ends the
run: the agent's session gets SIGTERM (torchrun stops its workers), then every process carrying the launch's
tag is SIGKILLed (torchrun starts each worker in a session of its own: the tag reaches them all). Groups not
measured become results with `error` naming the group with its ranks and hosts (nodes). There is no
relaunch: the other nodes would have to agree on it.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tpdoctor.bench.launch import BenchOptions, BenchRun, Launch, bench_env, exit_text, stderr_text, worker_args
from tpdoctor.bench.lifeline import Termination, via_lifeline
from tpdoctor.bench.nodes import NodeJob, NodePlan
from tpdoctor.bench.plan import Group
from tpdoctor.bench.watch import Ending, EventHook, Voice, Watch, deadline_failures, exit_failures, failed_sizes, watch
from tpdoctor.files.atomic import private_directory
from tpdoctor.files.read import read_text
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.codec import from_data
from tpdoctor.model.errors import InputError

WORKER = "tpdoctor.bench.worker"


def torchrun_command(job: NodeJob, nplan: NodePlan, options: BenchOptions, out_path: str,
                     python: str = sys.executable) -> list[str]:
    return via_lifeline(python, "torch.distributed.run", [
        "--nnodes", str(job.nnodes), "--node-rank", str(job.node_rank), "--nproc-per-node",
        str(job.nproc_per_node), "--rdzv-backend", "static", "--rdzv-endpoint", job.rdzv_endpoint,
        "--max-restarts", "0", "-m", "tpdoctor.bench.lifeline", WORKER, *worker_args(nplan.plan.rounds, options),
        "--labels", json.dumps(list(nplan.labels)), "--out", out_path])


def agent_env(job: NodeJob, base: Mapping[str, str] | None = None) -> dict[str, str]:
    return bench_env({"TPDOCTOR_HOST": job.host}, base)


class _NodeWatch(Watch):
    """This node's view of the job: groups with a rank here, named by rank and host (nodes)."""

    def __init__(self, job: NodeJob, nplan: NodePlan, options: BenchOptions, start: float) -> None:
        voice = Voice(here=f" on node {job.node_rank} of {job.nnodes} ({job.host})",
                      killed="torchrun and its ranks killed",
                      between_rounds="a rank on another node hung or died between rounds")
        super().__init__(options, nplan.mine(job), job.my_ranks, start=start, idle_factor=len(options.sizes) + 1,
                         voice=voice)
        self.job = job
        self.nplan = nplan

    def member(self, rank: int) -> str:
        host = self.hosts.get(rank)
        return f"rank{rank}@{host}" if host else f"rank{rank}@node{self.job.node_of(rank)}"

    def name(self, group: Group) -> str:
        nodes = sorted({self.job.node_of(r) for r in group})
        return f"{'+'.join(self.member(r) for r in group)} ({self.options.backend}, nodes " \
               f"{'+'.join(str(n) for n in nodes)})"


def result_path() -> tuple[Path, str]:
    """A new private directory (0700: no other user can plant a name in it, unlike /tmp) and the results
    file's path in it, which the worker writes (temp file with O_EXCL, then rename) when everything finished."""
    private = private_directory("tpdoctor-bench-")
    return private, str(private / "results.json")


def run_node(job: NodeJob, nplan: NodePlan, options: BenchOptions, *, python: str = sys.executable,
             on_event: EventHook | None = None, clock: Callable[[], float] = time.monotonic) -> BenchRun:
    """Run this node's torchrun agent to the end or to a deadline; results of the groups with a rank here."""
    t0 = clock()
    private, out_path = result_path()
    state = _NodeWatch(job, nplan, options, t0)
    with Termination() as stop, Launch(options.grace_seconds) as launch:
        try:
            launch.start(0, torchrun_command(job, nplan, options, out_path, python), agent_env(job))
        except OSError as exc:
            ending = Ending("exit", code=-1)  # nothing started: nothing to stop
            failures = {g: f"could not start torchrun: {exc} (group {state.name(g)} not measured)"
                        for g in state.groups}
        else:
            ending = watch(launch, state, on_event=on_event, clock=clock, stop=stop)
            failures = _failures(ending, state, launch)
        launch.close(kill=bool(failures) or ending.how == "stopped")
    results = _read_out(out_path, job) if not failures else {}
    shutil.rmtree(private, ignore_errors=True)  # with a rank's temp file, were it killed mid-write
    stop.check(launch.leftover)
    if not failures:
        failures = {g: f"torchrun exited 0 without every size of {state.name(g)} ({state.where(g)})"
                    for g in state.groups if len(results.get(g, [])) < len(options.sizes)}
    for group, error in failures.items():
        done = results.get(group) or state.results.get(group, [])
        hosts = tuple(state.hosts[r] for r in group) if all(r in state.hosts for r in group) else ()
        results[group] = done + failed_sizes(group, group, nplan.plan.rounds, nplan.labels, options, error, done,
                                             hosts)
    ordered = [r for g in state.groups for r in results.get(g, [])]
    return BenchRun(results=tuple(ordered), attempts=1, sessions=launch.sessions, leftover_pids=launch.leftover,
                    wall_seconds=clock() - t0, errors=tuple(failures.values()))


def _read_out(path: str, job: NodeJob) -> dict[Group, list[BenchResult]]:
    try:
        data = json.loads(read_text(path, what="benchmark results"))
    except (InputError, json.JSONDecodeError):
        return {}
    out: dict[Group, list[BenchResult]] = {}
    for item in from_data(tuple[BenchResult, ...], data, "$"):
        if job.my_ranks.intersection(item.group):
            out.setdefault(item.group, []).append(item)
    return out


def _failures(ending: Ending, state: _NodeWatch, launch: Launch) -> dict[Group, str]:
    """The groups an ended watch fails here, each with the error naming it ({} when torchrun exited 0)."""
    if ending.how == "deadline":
        return deadline_failures(state, ending.at, lambda: _startup_text(state))
    if ending.how == "stopped":
        return {g: f"{ending.why}; {state.voice.killed}" for g in state.unfinished()}
    if ending.how != "exit":
        return {}
    cause = torchrun_cause(stderr_text(launch.stderr[0]))
    rank, message = next(iter(sorted(state.errors.items())), (None, cause))
    who = f"torchrun on node {state.job.node_rank} ({state.job.host}) {exit_text(ending.code)}"
    if rank is not None:
        who += f"; rank {rank} ({state.member(rank)}): {message}"
    elif message:
        who += f": {message}"
    return exit_failures(state, who)


def _startup_text(state: _NodeWatch) -> str:
    job = state.job
    limit = f"{state.options.startup_timeout_seconds:g} s"
    here = f"node {job.node_rank} of {job.nnodes} ({job.host})"
    if not state.launched and not state.ready:
        return (f"watchdog: torchrun's rendezvous at {job.rdzv_endpoint} did not complete within {limit} on "
                f"{here}: no rank started here; are all {job.nnodes} nodes running `tpdoctor bench --nnodes "
                f"{job.nnodes}` with this endpoint, and can this node reach it?")
    return (f"watchdog: the ranks did not all join within {limit} on {here} (ranks here "
            f"{sorted(job.my_ranks)}; joined: {sorted(state.ready)}; a rank on another node is missing or stuck)")


def torchrun_cause(text: str) -> str:
    """The root cause from torchrun's ChildFailedError summary (rank, exit code, traceback line), or the
    last line that is not a banner."""
    _, found, cause = text.rpartition("Root Cause (first observed failure):")
    fields: dict[str, str] = {}
    for line in cause.splitlines() if found else ():
        key, sep, value = line.strip().partition(":")
        if sep and key.strip() in ("rank", "exitcode", "traceback"):
            fields.setdefault(key.strip(), value.strip())
    if fields:
        return "; ".join(f"{k} {v}" for k, v in fields.items())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and set(ln.strip()) - set("=-")]
    return lines[-1][-300:] if lines else ""
