"""The watcher: one loop over a launch's event lines (`events.py`) with the benchmark's deadlines, for local
ranks and the torchrun agent alike, and the texts and results it turns a failure into.

Deadlines, from this launch's point of view:
- start-up: every rank of this launch must join (`ready`) within `startup_timeout_seconds` of the launch;
  once all have, the first round must start (subgroups, the host exchange) by then too, or within
  `timeout_seconds` of the last event when that is later;
- per step: a group running here must finish a size within `timeout_seconds` of its `start`;
- stall: no event at all for `timeout_seconds` × `idle_factor` while no group runs here (1 for local ranks,
  who see every group; sizes + 1 for a node that sits rounds out while other nodes measure).

The loop ends when every process has exited 0, a deadline passes, a process exits non-zero (the one to
blame: `root_cause`) or the parent is told to stop (`lifeline.Termination`). The caller then closes the
launch; the groups at fault get results with `error` naming them (`failed_sizes`).
"""

from __future__ import annotations

import queue
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tpdoctor.bench.events import decode
from tpdoctor.bench.launch import BenchOptions, Launch
from tpdoctor.bench.plan import Group
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import failed
from tpdoctor.model.codec import from_data
from tpdoctor.model.sizes import format_size

EventHook = Callable[[dict[str, Any]], None]
Stop = Callable[[], "str | None"]


def _never() -> str | None:
    return None


@dataclass(frozen=True)
class Voice:
    """How this launch's failure texts say where it happened and what was done about it."""

    here: str = ""  # e.g. " on node 0 of 2 (node-a)"
    killed: str = "ranks killed"
    between_rounds: str = "a rank hung between rounds"


class Watch:
    """What the watcher has seen of one launch: ranks started and joined, which group runs which size since
    when, results, the ranks' own errors, hosts and devices; and the deadline that follows."""

    def __init__(self, options: BenchOptions, groups: Sequence[Group], ranks: Iterable[int], *, start: float,
                 to_rank: Mapping[int, int] | None = None, idle_factor: float = 1.0, voice: Voice = Voice()) -> None:
        self.options = options
        self.groups = tuple(groups)  # the groups this launch answers for
        self.ranks = frozenset(ranks)  # the ranks this launch starts
        self.start = start
        self.to_rank = to_rank  # an event's GPU label -> rank (None: events name ranks)
        self.idle_factor = idle_factor
        self.voice = voice
        self.launched: set[int] = set()
        self.ready: set[int] = set()
        self.last_event: float | None = None
        self.measuring = False  # a round or a step started: start-up is over
        self.running: dict[Group, tuple[int, float]] = {}  # group -> (requested bytes, since)
        self.results: dict[Group, list[BenchResult]] = {g: [] for g in groups}
        self.errors: dict[int, str] = {}  # rank -> its own error message
        self.hosts: dict[int, str] = {}  # rank -> host, from `world` events
        self.pci_bus_ids: dict[int, str | None] = {}  # rank -> the device it runs on, from `ready` events

    def key(self, members: list[int]) -> Group:
        return tuple(members) if self.to_rank is None else tuple(self.to_rank[m] for m in members)

    def name(self, group: Group) -> str:
        return f"{'+'.join(f'rank{r}' for r in group)} ({self.options.backend})"

    def complete(self, group: Group) -> bool:
        return len(self.results.get(group, [])) >= len(self.options.sizes)

    def unfinished(self) -> list[Group]:
        return [g for g in self.groups if not self.complete(g)]

    def where(self, group: Group) -> str:
        step = self.running.get(group)
        if step is not None:
            return f"at {format_size(step[0])} B"
        return f"after {len(self.results.get(group, []))} of {len(self.options.sizes)} sizes"

    @property
    def stall_seconds(self) -> float:
        return self.options.timeout_seconds * self.idle_factor

    def deadline(self) -> float:
        timeout = self.options.timeout_seconds
        if not self.measuring:
            limit = self.start + self.options.startup_timeout_seconds
            if self.last_event is None or not self.ready.issuperset(self.ranks):
                return limit
            return max(limit, self.last_event + timeout)
        last = self.last_event if self.last_event is not None else self.start
        if self.running:
            return min([last + timeout, *(t + timeout for _, t in self.running.values())])
        return last + self.stall_seconds

    def on_event(self, event: dict[str, Any], now: float) -> None:
        self.last_event = now
        kind = event["event"]
        if kind == "launched":
            self.launched.add(int(event["rank"]))
        elif kind == "ready":
            self.ready.add(int(event["rank"]))
            self.pci_bus_ids[int(event["rank"])] = event.get("pci_bus_id")
        elif kind == "world":
            self.hosts.update({int(w["rank"]): str(w["host"]) for w in event["world"]})
        elif kind == "round":
            self.measuring = True
        elif kind == "start":
            self.measuring = True
            self.running[self.key(event["group"])] = (int(event["bytes"]), now)
        elif kind == "result":
            result = from_data(BenchResult, event["result"], "$.result")
            group = self.key(list(result.group))
            self.results.setdefault(group, []).append(result)
            self.running.pop(group, None)
        elif kind == "error":
            self.errors[int(event["rank"])] = str(event.get("message", ""))


@dataclass(frozen=True)
class Ending:
    """Why the watch ended: `done` (every process exited 0), `deadline` (at `at`), `exit` (process `key`
    exited with `code`: the root cause) or `stopped` (`why`)."""

    how: str
    key: int = -1
    code: int = 0
    at: float = 0.0
    why: str = ""


def watch(launch: Launch, state: Watch, *, on_event: EventHook | None = None,
          clock: Callable[[], float] = time.monotonic, stop: Stop = _never) -> Ending:
    """Consume the launch's event lines until it ends (see `Ending`); each event goes to the watch, then to
    `on_event`."""
    exited: set[int] = set()
    eof: set[int] = set()
    grace = launch.grace_seconds
    while len(exited) < len(launch.procs):
        why = stop()
        if why:
            return Ending("stopped", why=why)
        now = clock()
        deadline = state.deadline()
        if now >= deadline:
            return Ending("deadline", at=now)
        try:
            kind, key, line = launch.lines.get(timeout=min(0.5, max(0.01, deadline - now)))
        except queue.Empty:
            kind, key, line = "poll", -1, ""
        if kind == "line":
            take(line, state, on_event, clock)
            continue
        if kind == "eof":
            eof.add(key)
        for k, p in launch.procs.items():  # an EOF, or a periodic look (a process whose child holds stdout)
            if k in exited or (kind == "poll" and p.poll() is None) or (kind == "eof" and k != key):
                continue
            try:
                code = p.wait(timeout=grace + 1)
            except subprocess.TimeoutExpired:
                continue  # closed stdout but still running: the deadlines will catch it
            exited.add(k)
            if code != 0:
                drain(launch, state, on_event, clock)
                k, code = root_cause(launch.procs, k, code)
                return Ending("exit", key=k, code=code)
    drain(launch, state, on_event, clock, wait_for=set(launch.procs) - eof)
    return Ending("done")


def take(line: str, state: Watch, on_event: EventHook | None, clock: Callable[[], float]) -> None:
    """One line of a process's stdout: an event goes to the watch, then to the caller's hook."""
    event = decode(line)
    if event is not None:
        state.on_event(event, clock())
        if on_event is not None:
            on_event(event)


def drain(launch: Launch, state: Watch, on_event: EventHook | None, clock: Callable[[], float], *,
          wait_for: set[int] | None = None, limit_seconds: float = 1.0) -> None:
    """Take in events already printed (a dead rank's last words, a peer's error, the last results) before
    judging; with `wait_for`, until those processes' stdout ends too (at most `limit_seconds`)."""
    time.sleep(0.05)
    pending = set(wait_for or ())
    end = time.monotonic() + limit_seconds
    while True:
        try:
            kind, key, line = launch.lines.get(timeout=0.05) if pending else launch.lines.get_nowait()
        except queue.Empty:
            if not pending or time.monotonic() >= end:
                return
            continue
        if kind == "line":
            take(line, state, on_event, clock)
        elif kind == "eof":
            pending.discard(key)


def root_cause(procs: Mapping[int, Any], key: int, code: int, settle_seconds: float = 0.5) -> tuple[int, int]:
    """The process to blame when one exits non-zero. A peer killed from outside (SIGKILL, an OOM kill) makes
    the survivors fail on their broken connection, by an error exit or by aborting (gloo and NCCL call
    abort(), SIGABRT), and whichever exit is noticed first is a race. Give the others a moment to be reaped
    and blame the most external cause: a signal other than SIGABRT, then SIGABRT, then an error exit."""

    def weight(c: int) -> int:
        return 2 if c >= 0 else (1 if c == -signal.SIGABRT else 0)

    best = (weight(code), key, code)
    deadline = time.monotonic() + settle_seconds
    while best[0] > 0 and len(procs) > 1 and time.monotonic() < deadline:
        for k, p in procs.items():
            other = p.poll()
            if other is not None and other != 0 and weight(other) < best[0]:
                best = (weight(other), k, other)
        time.sleep(0.02)
    return best[1], best[2]


def deadline_failures(state: Watch, now: float, startup: Callable[[], str]) -> dict[Group, str]:
    """The groups a passed deadline fails, and why; `startup()` explains a start-up that did not finish."""
    v, timeout = state.voice, state.options.timeout_seconds
    if not state.measuring:
        why = startup()
        return {g: f"{why}; {v.killed} (group {state.name(g)} not measured)" for g in state.unfinished()}
    stuck = [g for g, (_, t) in state.running.items() if now - t >= timeout]
    if stuck:
        return {g: f"watchdog: all-reduce on {state.name(g)} did not finish within {timeout:g} s "
                   f"{state.where(g)}{v.here}; {v.killed}" for g in stuck}
    return {g: f"watchdog: no progress for {state.stall_seconds:g} s{v.here} before {state.name(g)} ran "
               f"{state.where(g)} ({v.between_rounds}); {v.killed}" for g in state.unfinished()}


def exit_failures(state: Watch, who: str, culprits: set[int] | None = None) -> dict[Group, str]:
    """The groups a process exit fails: those running with a culprit rank (None: any rank), else the
    unfinished ones with a culprit, else every unfinished one. `who` names the process and how it ended."""
    killed = state.voice.killed

    def involved(g: Group) -> bool:
        return culprits is None or bool(culprits.intersection(g))

    running = [g for g in state.running if g in state.groups and involved(g)]
    if running:
        return {g: f"{who} during all-reduce on {state.name(g)} {state.where(g)}; {killed}" for g in running}
    pending = [g for g in state.unfinished() if involved(g)] or state.unfinished()
    return {g: f"{who} before {state.name(g)} finished ({state.where(g)}); {killed}" for g in pending}


def failed_sizes(group: Group, members: Group, rounds: Sequence[Sequence[Group]], labels: Sequence[str | None],
                 options: BenchOptions, error: str, done: Sequence[BenchResult],
                 hosts: tuple[str, ...] = ()) -> list[BenchResult]:
    """Results with `error` for every size of `group` (named by `members`) that `done` does not cover;
    `labels` holds one label per round."""
    rnd = next(i for i, r in enumerate(rounds) if group in r)
    elem = 4 if options.dtype == "float32" else 2
    done_bytes = {r.bytes for r in done}
    return [failed(members, options.backend, size, error, dtype=options.dtype, label=labels[rnd],
                   round_index=rnd if len(rounds) > 1 else None, concurrent_groups=len(rounds[rnd]), hosts=hosts)
            for size in options.sizes if max(1, size // elem) * elem not in done_bytes]
