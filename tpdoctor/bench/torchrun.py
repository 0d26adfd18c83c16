"""Launch this node's share of a multi-node benchmark through torchrun, and watch it like the runner does.

One `python -m torch.distributed.run` agent per node (static rendezvous: node R is node R, node 0 hosts the
store at the endpoint) starts the worker ranks; they print event lines on the agent's stdout. The watcher
keeps the single-node runner's deadlines, from this node's point of view: start-up (torchrun's rendezvous,
the ranks' imports and joining, until the first round), per step (a group with a rank here must finish a
size within `timeout_seconds` of its `start`), and stall (no event at all: `timeout_seconds` while a group
runs here, `timeout_seconds` × (sizes + 1) while this node sits a round out). A deadline that passes, or
torchrun exiting non-zero, ends the run: the agent's session gets SIGTERM (torchrun stops its workers),
then every process carrying this run's tag in its environment is SIGKILLed; torchrun starts each worker in
a session of its own, so the tag, not the session, is what reaches them all. Groups not measured become
results with `error` naming the group with its ranks and hosts (nodes). There is no relaunch: the other
nodes would have to agree on it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import tpdoctor
from tpdoctor.bench.multinode import NodeJob, NodePlan
from tpdoctor.bench.plan import Group
from tpdoctor.bench.procs import TAG_VARIABLE, kill_tagged, session_members, tagged
from tpdoctor.bench.runner import BenchOptions, BenchRun, EventState, _drain, _exit_text, _reader, _reap, _take
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import failed
from tpdoctor.model.codec import from_data

EventHook = Callable[[dict[str, Any]], None]


def torchrun_command(job: NodeJob, nplan: NodePlan, options: BenchOptions, out_path: str,
                     python: str = sys.executable) -> list[str]:
    rounds = nplan.plan.rounds
    torch_timeout = options.startup_timeout_seconds + options.timeout_seconds * (len(options.sizes) + 2) \
        * max(1, len(rounds))
    return [python, "-m", "torch.distributed.run", "--nnodes", str(job.nnodes), "--node-rank",
            str(job.node_rank), "--nproc-per-node", str(job.nproc_per_node), "--rdzv-backend", "static",
            "--rdzv-endpoint", job.rdzv_endpoint, "--max-restarts", "0",
            "-m", "tpdoctor.bench.worker", "--backend", options.backend,
            "--sizes", ",".join(str(s) for s in options.sizes), "--iters", str(options.iters),
            "--warmup", str(options.warmup), "--dtype", options.dtype,
            "--plan", json.dumps([[list(g) for g in rnd] for rnd in rounds]),
            "--labels", json.dumps(list(nplan.labels)), "--timeout", f"{torch_timeout:g}", "--out", out_path]


def agent_env(job: NodeJob, tag: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    root = str(Path(tpdoctor.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update({"PYTHONUNBUFFERED": "1", "TPDOCTOR_HOST": job.host, TAG_VARIABLE: tag})
    return env


@dataclass
class _NodeWatch(EventState):
    """What this node has seen of the job: its ranks' progress, the world's hosts, results so far."""

    job: NodeJob
    nplan: NodePlan
    options: BenchOptions
    last_event: float
    launched: set[int] = field(default_factory=set)
    ready: set[int] = field(default_factory=set)
    hosts: dict[int, str] = field(default_factory=dict)  # rank -> host, from `world` events
    running: dict[Group, tuple[int, float]] = field(default_factory=dict)
    results: dict[Group, list[BenchResult]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    measuring: bool = False

    def on_other(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "world":
            self.hosts.update({int(w["rank"]): str(w["host"]) for w in event["world"]})
        elif kind == "round":
            self.measuring = True

    def deadline(self, start: float) -> float:
        timeout = self.options.timeout_seconds
        if not self.ready.issuperset(self.job.my_ranks):  # torchrun's rendezvous, imports, joining
            return start + self.options.startup_timeout_seconds
        if not self.measuring:  # joined: subgroups and the host exchange are collectives like any step
            return self.last_event + timeout
        if self.running:
            return min([self.last_event + timeout, *(t + timeout for _, t in self.running.values())])
        return self.last_event + timeout * (len(self.options.sizes) + 1)

    def member(self, rank: int) -> str:
        host = self.hosts.get(rank)
        return f"rank{rank}@{host}" if host else f"rank{rank}@node{self.job.node_of(rank)}"

    def name(self, group: Group) -> str:
        nodes = sorted({self.job.node_of(r) for r in group})
        return f"{'+'.join(self.member(r) for r in group)} ({self.options.backend}, nodes " \
               f"{'+'.join(str(n) for n in nodes)})"


def run_node(job: NodeJob, nplan: NodePlan, options: BenchOptions, *, python: str = sys.executable,
             on_event: EventHook | None = None, clock: Callable[[], float] = time.monotonic) -> BenchRun:
    """Run this node's torchrun agent to the end or to a deadline; results of the groups with a rank here."""
    tag = uuid.uuid4().hex
    t0 = clock()
    mine = nplan.mine(job)
    fd, out_path = tempfile.mkstemp(prefix="tpdoctor-bench-", suffix=".json")
    os.close(fd)
    os.unlink(out_path)  # the worker writes it (temp then rename) only when everything finished
    watch = _NodeWatch(job, nplan, options, last_event=t0)
    q: queue.Queue[tuple[str, int, str]] = queue.Queue()
    failures: dict[Group, str] = {}
    proc: subprocess.Popen[str] | None = None
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    reader: threading.Thread | None = None
    leftover: list[int] = []
    try:
        try:
            proc = subprocess.Popen(torchrun_command(job, nplan, options, out_path, python),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                    env=agent_env(job, tag), text=True, start_new_session=True)
        except OSError as exc:
            failures = {g: f"could not start torchrun: {exc} (group {watch.name(g)} not measured)"
                        for g in mine}
        else:
            assert proc.stdout is not None
            reader = threading.Thread(target=_reader, args=(0, proc.stdout, q), daemon=True)
            reader.start()
            failures = _watch(job, mine, proc, stderr, q, watch, on_event, clock, t0)
    finally:
        sessions = (proc.pid,) if proc is not None else ()
        if failures or tagged(tag) or session_members(sessions):
            leftover = kill_tagged(tag, sessions, grace_seconds=options.grace_seconds)
        if proc is not None:
            _reap(proc, leftover)
        if reader is not None:
            reader.join(timeout=2)
        stderr.close()
    results = _read_out(out_path, job) if not failures else {}
    for path in (out_path, *glob.glob(glob.escape(out_path) + ".tmp.*")):  # a rank killed mid-write
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if not failures:
        failures = {g: f"torchrun exited 0 without every size of {watch.name(g)} ({watch.where(g)})"
                    for g in mine if len(results.get(g, [])) < len(options.sizes)}
    for group, error in failures.items():
        done = results.get(group) or watch.results.get(group, [])
        results[group] = done + _failed_sizes(group, watch, error, {r.bytes for r in done})
    ordered = [r for g in mine for r in results.get(g, [])]
    return BenchRun(results=tuple(ordered), attempts=1, sessions=sessions, leftover_pids=tuple(leftover),
                    wall_seconds=clock() - t0, errors=tuple(failures.values()))


def _read_out(path: str, job: NodeJob) -> dict[Group, list[BenchResult]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return {}
    out: dict[Group, list[BenchResult]] = {}
    for item in from_data(tuple[BenchResult, ...], data, "$"):
        if job.my_ranks.intersection(item.group):
            out.setdefault(item.group, []).append(item)
    return out


def _failed_sizes(group: Group, watch: _NodeWatch, error: str, done_bytes: set[int]) -> list[BenchResult]:
    rounds = watch.nplan.plan.rounds
    rnd = next(i for i, r in enumerate(rounds) if group in r)
    hosts = tuple(watch.hosts[r] for r in group) if all(r in watch.hosts for r in group) else ()
    elem = 4 if watch.options.dtype == "float32" else 2
    return [failed(group, watch.options.backend, size, error, dtype=watch.options.dtype,
                   label=watch.nplan.labels[rnd], round_index=rnd if len(rounds) > 1 else None,
                   concurrent_groups=len(rounds[rnd]), hosts=hosts)
            for size in watch.options.sizes if max(1, size // elem) * elem not in done_bytes]


def _watch(job: NodeJob, mine: tuple[Group, ...], proc: subprocess.Popen[str], stderr: IO[bytes],
           q: queue.Queue[tuple[str, int, str]], watch: _NodeWatch, on_event: EventHook | None,
           clock: Callable[[], float], start: float) -> dict[Group, str]:
    """Consume events until torchrun exits 0 (returns {}) or something fails (the groups and why)."""
    while True:
        now = clock()
        deadline = watch.deadline(start)
        if now >= deadline:
            return _deadline_failures(job, mine, watch, now)
        try:
            kind, _, line = q.get(timeout=min(0.5, max(0.01, deadline - now)))
        except queue.Empty:
            kind, line = "poll", ""
        if kind == "line":
            _take(line, watch, on_event, clock)
            continue
        if proc.poll() is None and kind == "poll":
            continue
        try:
            code = proc.wait(timeout=watch.options.grace_seconds + 1)
        except subprocess.TimeoutExpired:
            continue  # stdout closed but the agent still runs: the deadlines will catch it
        _drain(q, watch, on_event, clock)
        if code == 0:
            return {}
        return _exit_failures(mine, watch, code, stderr)


def _deadline_failures(job: NodeJob, mine: tuple[Group, ...], watch: _NodeWatch,
                       now: float) -> dict[Group, str]:
    timeout = watch.options.timeout_seconds
    here = f"node {job.node_rank} of {job.nnodes} ({job.host})"
    if not watch.measuring:
        limit = f"{watch.options.startup_timeout_seconds:g} s"
        local = sorted(job.my_ranks)
        if not watch.launched and not watch.ready:
            why = (f"watchdog: torchrun's rendezvous at {job.rdzv_endpoint} did not complete within {limit} "
                   f"on {here}: no rank started here; are all {job.nnodes} nodes running `tpdoctor bench "
                   f"--nnodes {job.nnodes}` with this endpoint, and can this node reach it?")
        else:
            why = (f"watchdog: the ranks did not all join within {limit} on {here} (ranks here "
                   f"{local}; joined: {sorted(watch.ready)}; a rank on another node is missing or stuck)")
        return {g: f"{why}; torchrun and its ranks killed (group {watch.name(g)} not measured)"
                for g in mine if not watch.complete(g)}
    stuck = {g: t for g, (_, t) in watch.running.items() if now - t >= timeout}
    if stuck:
        return {g: f"watchdog: all-reduce on {watch.name(g)} did not finish within {timeout:g} s "
                   f"{watch.where(g)} on {here}; torchrun and its ranks killed" for g in stuck}
    return {g: f"watchdog: no progress on {here} before {watch.name(g)} ran {watch.where(g)} (a rank on "
               f"another node hung or died between rounds); torchrun and its ranks killed"
            for g in mine if not watch.complete(g)}


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


def _stderr_text(fh: IO[bytes], limit: int = 20000) -> str:
    try:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - limit))
        return fh.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""


def _exit_failures(mine: tuple[Group, ...], watch: _NodeWatch, code: int, stderr: IO[bytes]) -> dict[Group, str]:
    rank, message = next(iter(sorted(watch.errors.items())), (None, torchrun_cause(_stderr_text(stderr))))
    who = f"torchrun on node {watch.job.node_rank} ({watch.job.host}) {_exit_text(code)}"
    if rank is not None:
        who += f"; rank {rank} ({watch.member(rank)}): {message}"
    elif message:
        who += f": {message}"
    running = [g for g in watch.running if g in mine]
    if running:
        return {g: f"{who}; during all-reduce on {watch.name(g)} {watch.where(g)}" for g in running}
    return {g: f"{who}; group {watch.name(g)} not finished ({watch.where(g)})" for g in mine
            if not watch.complete(g)}
