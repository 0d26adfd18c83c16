"""Spawn one worker process per rank, watch them, and turn hangs and crashes into results.

Each rank runs `python -m tpdoctor.bench.worker` in its own session. The runner reads the ranks' event
lines (see `events.py`) and keeps three deadlines: start-up (every rank `ready`), per step (one size of one
group must finish within `timeout_seconds` of its `start`), and stall (no event at all for
`timeout_seconds`, e.g. a barrier between rounds with a dead peer). A deadline that passes, or a rank that
exits non-zero, ends the attempt: every session is killed (SIGTERM, then SIGKILL, then a /proc sweep), the
groups at fault get results with `error` naming them, and the groups not yet measured are launched again
without them. The command never hangs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import tpdoctor
from tpdoctor.bench.events import decode
from tpdoctor.bench.plan import Group, Plan
from tpdoctor.bench.procs import kill_sessions, session_members
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import failed, group_label
from tpdoctor.model.codec import from_data
from tpdoctor.model.errors import BenchError
from tpdoctor.model.sizes import format_size

INSTALL_HINT = "pip install 'tpdoctor[bench]' (CPU-only: pip install torch==2.13.0)"
EventHook = Callable[[dict[str, Any]], None]


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch() -> None:
    if not torch_available():
        raise BenchError(f"the benchmark needs PyTorch, which is not installed: {INSTALL_HINT}")


def resolve_backend(requested: str) -> str:
    """`auto` -> nccl when CUDA GPUs are visible, else gloo (imports torch)."""
    require_torch()
    if requested != "auto":
        return requested
    import torch

    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > 0 else "gloo"


def cuda_device_count() -> int:
    require_torch()
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class BenchOptions:
    backend: str  # nccl | gloo
    sizes: tuple[int, ...]
    iters: int = 20
    warmup: int = 5
    dtype: str = "float32"
    timeout_seconds: float = 60.0  # per step and per stall
    startup_timeout_seconds: float = 120.0  # until every rank has imported torch and joined
    grace_seconds: float = 1.0  # between SIGTERM and SIGKILL
    label: str | None = None


def _no_prefix(rank: int) -> Sequence[str]:
    return ()


def _no_env(rank: int) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class Launcher:
    """How ranks are started: the interpreter, the rendezvous address, per-rank command prefix and env
    (e.g. `ip netns exec NS` and `GLOO_SOCKET_IFNAME`)."""

    python: str = sys.executable
    master_addr: str = "127.0.0.1"
    prefix: Callable[[int], Sequence[str]] = _no_prefix
    env: Callable[[int], Mapping[str, str]] = _no_env
    port: int | None = None  # rendezvous port; default a free local one


@dataclass(frozen=True)
class Attempt:
    """One launch of the world: what completed, what failed and why, which sessions it used."""

    completed: dict[Group, list[BenchResult]]
    failures: dict[Group, str]  # group (ranks) -> error naming it
    partial: dict[Group, list[BenchResult]]  # sizes the failed groups finished before failing
    sessions: tuple[int, ...]
    leftover_pids: tuple[int, ...]


@dataclass(frozen=True)
class BenchRun:
    results: tuple[BenchResult, ...]
    attempts: int
    sessions: tuple[int, ...]  # every rank's session id (= its pid), for checking nothing is left behind
    leftover_pids: tuple[int, ...]  # processes that survived the kill (should be empty)
    wall_seconds: float
    errors: tuple[str, ...] = field(default=())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_plan(plan: Plan, devices: Sequence[int], options: BenchOptions, *, launcher: Launcher | None = None,
             on_event: EventHook | None = None, clock: Callable[[], float] = time.monotonic) -> BenchRun:
    """Measure every group of `plan` (ranks index `devices`); relaunch after a failure without the group
    at fault, so one dead link does not hide the other pairs' figures."""
    require_torch()
    if not plan.groups:
        raise BenchError("nothing to measure: the plan has no groups")
    if plan.ranks and max(plan.ranks) >= len(devices):
        raise BenchError(f"plan uses rank {max(plan.ranks)} but only {len(devices)} ranks are launched")
    launcher = launcher or Launcher()
    t0 = clock()
    pending = plan
    by_group: dict[Group, list[BenchResult]] = {}
    sessions: list[int] = []
    leftover: list[int] = []
    errors: list[str] = []
    attempts = 0
    while pending.groups and attempts <= len(plan.groups):
        attempts += 1
        att = _launch(pending, tuple(devices), options, launcher, on_event, clock)
        sessions.extend(att.sessions)
        leftover.extend(att.leftover_pids)
        by_group.update(att.completed)
        for group, error in att.failures.items():
            errors.append(error)
            done = att.partial.get(group, [])
            done_bytes = {r.bytes for r in done}
            by_group[group] = done + _failed_sizes(group, devices, options, plan, error, done_bytes)
        if not att.failures:
            break
        pending = pending.without(set(att.completed) | set(att.failures))
    order = {g: i for i, g in enumerate(plan.groups)}
    results = [r for g in sorted(by_group, key=order.__getitem__) for r in by_group[g]]
    return BenchRun(results=tuple(results), attempts=attempts, sessions=tuple(sessions),
                    leftover_pids=tuple(sorted(set(leftover))), wall_seconds=clock() - t0,
                    errors=tuple(errors))


def _failed_sizes(group: Group, devices: Sequence[int], options: BenchOptions, plan: Plan, error: str,
                  done_bytes: set[int]) -> list[BenchResult]:
    gpus = tuple(devices[r] for r in group)
    rnd = next(i for i, r in enumerate(plan.rounds) if group in r)
    return [failed(gpus, options.backend, size, error, dtype=options.dtype, label=options.label or plan.label,
                   round_index=rnd if len(plan.rounds) > 1 else None,
                   concurrent_groups=len(plan.rounds[rnd]))
            for size in options.sizes if not _covers(done_bytes, size, options.dtype)]


def _covers(done_bytes: set[int], requested: int, dtype: str) -> bool:
    elem = 4 if dtype == "float32" else 2
    return max(1, requested // elem) * elem in done_bytes


def _worker_command(plan: Plan, devices: tuple[int, ...], options: BenchOptions, python: str) -> list[str]:
    torch_timeout = options.startup_timeout_seconds + options.timeout_seconds * (len(options.sizes) + 2) \
        * max(1, len(plan.rounds))
    return [python, "-m", "tpdoctor.bench.worker", "--backend", options.backend,
            "--sizes", ",".join(str(s) for s in options.sizes), "--iters", str(options.iters),
            "--warmup", str(options.warmup), "--dtype", options.dtype,
            "--plan", json.dumps([[list(g) for g in rnd] for rnd in plan.rounds]),
            "--devices", ",".join(str(d) for d in devices), "--label", options.label or plan.label,
            "--timeout", f"{torch_timeout:g}"]


def _rank_env(rank: int, world: int, port: int, launcher: Launcher) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(tpdoctor.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update({"MASTER_ADDR": launcher.master_addr, "MASTER_PORT": str(port), "RANK": str(rank),
                "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
                "PYTHONUNBUFFERED": "1"})
    env.update(launcher.env(rank))
    return env


def _reader(rank: int, stream: IO[str], q: queue.Queue[tuple[str, int, str]]) -> None:
    try:
        for line in stream:
            q.put(("line", rank, line.rstrip("\n")))
    except (OSError, ValueError):
        pass
    finally:
        q.put(("eof", rank, ""))


def _tail(fh: IO[bytes], limit: int = 300) -> str:
    try:
        fh.seek(0)
        lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1][-limit:] if lines else ""


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class EventState:
    """What a watchdog has seen of its ranks' event lines (shared by this runner and `torchrun.py`).

    Subclasses hold the attributes below; `group_key` maps an event's GPU list to the group key they use,
    and `on_other` takes event kinds of their own."""

    launched: set[int]
    ready: set[int]
    last_event: float
    running: dict[Group, tuple[int, float]]  # group -> (requested bytes, since)
    results: dict[Group, list[BenchResult]]
    errors: dict[int, str]  # rank -> its own error message
    measuring: bool  # a first `start` came: start-up (imports, rendezvous, subgroups) is over
    options: BenchOptions

    def complete(self, group: Group) -> bool:
        return len(self.results.get(group, [])) >= len(self.options.sizes)

    def where(self, group: Group) -> str:
        step = self.running.get(group)
        if step is not None:
            return f"at {format_size(step[0])} B"
        return f"after {len(self.results.get(group, []))} of {len(self.options.sizes)} sizes"

    def group_key(self, gpus: list[int]) -> Group:
        return tuple(gpus)

    def on_other(self, kind: str, event: dict[str, Any]) -> None:
        """Event kinds this watcher alone knows; ignored by default."""

    def on_event(self, event: dict[str, Any], now: float) -> None:
        self.last_event = now
        kind = event["event"]
        if kind == "launched":
            self.launched.add(int(event["rank"]))
        elif kind == "ready":
            self.ready.add(int(event["rank"]))
        elif kind == "start":
            self.measuring = True
            self.running[self.group_key(event["group"])] = (int(event["bytes"]), now)
        elif kind == "result":
            result = from_data(BenchResult, event["result"], "$.result")
            group = self.group_key(list(result.group))
            self.results.setdefault(group, []).append(result)
            self.running.pop(group, None)
        elif kind == "error":
            self.errors[int(event["rank"])] = str(event.get("message", ""))
        else:
            self.on_other(kind, event)


class _Watch(EventState):
    """Bookkeeping of one attempt: which groups are running which size since when."""

    def __init__(self, plan: Plan, devices: tuple[int, ...], options: BenchOptions, now: float) -> None:
        self.options = options
        self.to_rank = {d: i for i, d in enumerate(devices)}
        self.devices = devices
        self.launched: set[int] = set()
        self.ready: set[int] = set()
        self.last_event = now
        self.running: dict[Group, tuple[int, float]] = {}  # group -> (requested bytes, since)
        self.measuring = False  # a first `start` came: start-up (imports, rendezvous, subgroups) is over
        self.results: dict[Group, list[BenchResult]] = {g: [] for g in plan.groups}
        self.errors: dict[int, str] = {}  # rank -> its own error message

    def group_key(self, gpus: list[int]) -> Group:
        return tuple(self.to_rank[d] for d in gpus)

    def name(self, group: Group) -> str:
        return f"{group_label(tuple(self.devices[r] for r in group))} ({self.options.backend})"


def _launch(plan: Plan, devices: tuple[int, ...], options: BenchOptions, launcher: Launcher,
            on_event: EventHook | None, clock: Callable[[], float]) -> Attempt:
    world = len(devices)
    port = launcher.port or free_port()
    cmd = _worker_command(plan, devices, options, launcher.python)
    q: queue.Queue[tuple[str, int, str]] = queue.Queue()
    procs: dict[int, subprocess.Popen[str]] = {}
    stderr_files: dict[int, IO[bytes]] = {}
    threads: list[threading.Thread] = []
    start = clock()
    watch = _Watch(plan, devices, options, start)
    failures: dict[Group, str] = {}
    try:
        for rank in range(world):
            stderr_files[rank] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
            procs[rank] = subprocess.Popen(
                [*launcher.prefix(rank), *cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=stderr_files[rank], env=_rank_env(rank, world, port, launcher), text=True,
                start_new_session=True)
            assert procs[rank].stdout is not None
            t = threading.Thread(target=_reader, args=(rank, procs[rank].stdout, q), daemon=True)
            t.start()
            threads.append(t)
        failures = _watch_loop(plan, options, procs, stderr_files, q, watch, on_event, clock, start)
        if not failures:  # every rank exited 0: a group without all its results is still a failure
            failures = {g: f"{watch.name(g)}: ranks exited without reporting every size "
                           f"({watch.where(g)})" for g in plan.groups if not watch.complete(g)}
    except OSError as exc:
        failures = {g: f"could not start the benchmark ranks: {exc}" for g in plan.groups}
    finally:
        sessions = tuple(p.pid for p in procs.values())
        alive = [p for p in procs.values() if p.poll() is None]
        stray = alive or failures or session_members(sessions)  # e.g. a child a finished rank left
        leftover = kill_sessions(sessions, grace_seconds=options.grace_seconds) if stray else []
        for p in procs.values():
            _reap(p, leftover)
        for t in threads:
            t.join(timeout=2)
        for fh in stderr_files.values():
            fh.close()
    completed = {g: rs for g, rs in watch.results.items() if watch.complete(g) and g not in failures}
    partial = {g: watch.results.get(g, []) for g in failures}
    return Attempt(completed=completed, failures=failures, partial=partial, sessions=sessions,
                   leftover_pids=tuple(leftover))


def _watch_loop(plan: Plan, options: BenchOptions, procs: dict[int, subprocess.Popen[str]],
                stderr_files: dict[int, IO[bytes]], q: queue.Queue[tuple[str, int, str]], watch: _Watch,
                on_event: EventHook | None, clock: Callable[[], float], start: float) -> dict[Group, str]:
    """Consume rank events until every rank exits cleanly (returns {}) or something fails (returns the
    groups at fault with their errors)."""
    exited: set[int] = set()
    timeout = options.timeout_seconds
    while len(exited) < len(procs):
        now = clock()
        if len(watch.ready) < len(procs) or not watch.measuring:
            deadline = max(start + options.startup_timeout_seconds, watch.last_event + timeout)
        else:
            deadline = min([watch.last_event + timeout, *(t + timeout for _, t in watch.running.values())])
        if now >= deadline:
            return _deadline_failures(plan, watch, now, start)
        try:
            kind, rank, line = q.get(timeout=min(0.5, max(0.01, deadline - now)))
        except queue.Empty:
            kind, rank, line = "poll", -1, ""
        if kind == "line":
            _take(line, watch, on_event, clock)
            continue
        for r, p in procs.items():  # an EOF, or a periodic look (a rank whose child holds its stdout)
            if r in exited or (kind == "poll" and p.poll() is None) or (kind == "eof" and r != rank):
                continue
            try:
                code = p.wait(timeout=options.grace_seconds + 1)
            except subprocess.TimeoutExpired:
                continue  # closed stdout but still running: the deadlines will catch it
            exited.add(r)
            if code != 0:
                _drain(q, watch, on_event, clock)
                r, code = _root_cause(procs, r, code)
                return _exit_failures(plan, watch, r, code, stderr_files[r])
    return {}


def _root_cause(procs: dict[int, subprocess.Popen[str]], rank: int, code: int,
                settle_seconds: float = 0.5) -> tuple[int, int]:
    """The rank to blame when one exits non-zero. A peer killed from outside (SIGKILL, an OOM kill) makes the
    survivors fail on their broken connection, by an error exit or by aborting (gloo and NCCL call abort(),
    SIGABRT), and whichever exit is noticed first is a race. Give the others a moment to be reaped and blame
    the most external cause: a signal other than SIGABRT, then SIGABRT, then an error exit."""

    def weight(c: int) -> int:
        return 2 if c >= 0 else (1 if c == -signal.SIGABRT else 0)

    best = (weight(code), rank, code)
    deadline = time.monotonic() + settle_seconds
    while best[0] > 0 and time.monotonic() < deadline:
        for r, p in procs.items():
            other = p.poll()
            if other is not None and other != 0 and weight(other) < best[0]:
                best = (weight(other), r, other)
        time.sleep(0.02)
    return best[1], best[2]


def _reap(proc: subprocess.Popen[str], leftover: list[int]) -> None:
    """Wait for a killed (or finished) process; one that still will not go is recorded in `leftover`."""
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        leftover.append(proc.pid)
    if proc.stdout is not None:
        proc.stdout.close()


def _take(line: str, watch: EventState, on_event: EventHook | None, clock: Callable[[], float]) -> None:
    """One line of a rank's stdout: an event goes to the watchdog, then to the caller's hook."""
    event = decode(line)
    if event is not None:
        watch.on_event(event, clock())
        if on_event is not None:
            on_event(event)


def _drain(q: queue.Queue[tuple[str, int, str]], watch: EventState, on_event: EventHook | None,
           clock: Callable[[], float]) -> None:
    """Take in events already printed (the dead rank's last words, a peer's error) before judging."""
    time.sleep(0.05)
    while True:
        try:
            kind, _, line = q.get_nowait()
        except queue.Empty:
            return
        if kind == "line":
            _take(line, watch, on_event, clock)


def _deadline_failures(plan: Plan, watch: _Watch, now: float, start: float) -> dict[Group, str]:
    timeout = watch.options.timeout_seconds
    if len(watch.ready) < len(watch.devices):
        everyone = set(range(len(watch.devices)))
        limit = f"{watch.options.startup_timeout_seconds:g} s"
        silent = sorted(everyone - watch.launched - watch.ready)
        if silent:
            why = (f"watchdog: ranks {silent} did not start the worker within {limit} "
                   f"(ranks {sorted(watch.launched | watch.ready)} waited at the rendezvous); ranks killed")
        else:
            why = (f"watchdog: rendezvous did not complete within {limit} (joined: {sorted(watch.ready)}); "
                   f"ranks killed")
        return {g: f"{why} (group {watch.name(g)} not measured)" for g in plan.groups
                if not watch.complete(g)}
    stuck = {g: t for g, (_, t) in watch.running.items() if now - t >= timeout}
    if stuck:
        return {g: f"watchdog: all-reduce on {watch.name(g)} did not finish within {timeout:g} s "
                   f"{watch.where(g)}; ranks killed" for g in stuck}
    return {g: f"watchdog: no progress for {timeout:g} s before {watch.name(g)} ran "
               f"{watch.where(g)} (a rank hung between rounds); ranks killed"
            for g in plan.groups if not watch.complete(g)}


def _exit_failures(plan: Plan, watch: _Watch, rank: int, code: int, stderr: IO[bytes]) -> dict[Group, str]:
    message = watch.errors.get(rank) or _tail(stderr)
    who = f"rank {rank} (GPU{watch.devices[rank]}) {_exit_text(code)}" + (f": {message}" if message else "")
    running = [g for g in watch.running if rank in g]
    if running:
        return {g: f"{who} during all-reduce on {watch.name(g)} {watch.where(g)}; ranks killed"
                for g in running}
    pending = [g for g in plan.groups if rank in g and not watch.complete(g)]
    if not pending:
        pending = [g for g in plan.groups if not watch.complete(g)]
    return {g: f"{who} before {watch.name(g)} finished ({watch.where(g)}); ranks killed" for g in pending}
