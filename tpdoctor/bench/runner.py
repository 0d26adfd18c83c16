"""Run a plan on local ranks: one `python -m tpdoctor.bench.worker` process per rank on this machine, started
by the launcher (`launch.py`) and watched by the watcher (`watch.py`).

A deadline that passes, or a rank that exits non-zero, ends the attempt: every rank is killed, the groups
at fault get results with `error` naming them, and the groups not yet measured are launched again without
them, so one dead link does not hide the other pairs' figures. SIGTERM, SIGINT or SIGHUP to this process
kill every rank and end the run with a BenchError (`lifeline.py`). The command never hangs.

`BenchOptions`, `BenchRun` and `free_port` live in `launch.py`; they are importable from here as before.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tpdoctor.bench.backend import require_torch
from tpdoctor.bench.launch import (
    BenchOptions,
    BenchRun,
    Launch,
    bench_env,
    exit_text,
    free_port,
    last_line,
    stderr_text,
    worker_args,
)
from tpdoctor.bench.lifeline import Termination, via_lifeline
from tpdoctor.bench.plan import Group, Plan
from tpdoctor.bench.watch import (
    Ending,
    EventHook,
    Stop,
    Watch,
    deadline_failures,
    exit_failures,
    failed_sizes,
    watch,
)
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import group_label
from tpdoctor.model.errors import BenchError

__all__ = ["BenchOptions", "BenchRun", "Launcher", "free_port", "run_plan"]

WORKER = "tpdoctor.bench.worker"


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
    pci_bus_ids: dict[int, str | None]
    stopped: bool = False


class _LocalWatch(Watch):
    """Events name GPUs (the ranks' `--devices`); groups are ranks; texts name GPUs."""

    def __init__(self, options: BenchOptions, plan: Plan, devices: tuple[int, ...], start: float) -> None:
        super().__init__(options, plan.groups, range(len(devices)), start=start,
                         to_rank={d: i for i, d in enumerate(devices)})
        self.devices = devices

    def name(self, group: Group) -> str:
        return f"{group_label(tuple(self.devices[r] for r in group), self.options.backend)} ({self.options.backend})"


def run_plan(plan: Plan, devices: Sequence[int], options: BenchOptions, *, launcher: Launcher | None = None,
             on_event: EventHook | None = None, clock: Callable[[], float] = time.monotonic,
             cuda_devices: Sequence[int] | None = None) -> BenchRun:
    """Measure every group of `plan` (ranks index `devices`, the GPU indices in results; `cuda_devices`, by
    rank, the CUDA ordinal each uses: see `devices.py`); relaunch after a failure without the group at
    fault, so one dead link does not hide the other pairs' figures."""
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
    seen: dict[int, str | None] = {}
    attempts = 0
    labels = [options.label or plan.label] * len(plan.rounds)
    with Termination() as stop:
        while pending.groups and attempts <= len(plan.groups) and not stop():
            attempts += 1
            att = _attempt(pending, tuple(devices), cuda_devices, options, launcher, on_event, clock, stop)
            sessions.extend(att.sessions)
            leftover.extend(att.leftover_pids)
            seen.update(att.pci_bus_ids)
            by_group.update(att.completed)
            for group, error in att.failures.items():
                errors.append(error)
                done = att.partial.get(group, [])
                members = tuple(devices[r] for r in group)
                by_group[group] = done + failed_sizes(group, members, plan.rounds, labels, options, error, done)
            if not att.failures or att.stopped:
                break
            pending = pending.without(set(att.completed) | set(att.failures))
    stop.check(leftover)
    order = {g: i for i, g in enumerate(plan.groups)}
    results = [r for g in sorted(by_group, key=order.__getitem__) for r in by_group[g]]
    return BenchRun(results=tuple(results), attempts=attempts, sessions=tuple(sessions),
                    leftover_pids=tuple(sorted(set(leftover))), wall_seconds=clock() - t0,
                    errors=tuple(errors), pci_bus_ids=tuple(seen.get(r) for r in range(len(devices))))


def _worker_args(plan: Plan, devices: tuple[int, ...], cuda: Sequence[int] | None,
                 options: BenchOptions) -> list[str]:
    args = [*worker_args(plan.rounds, options), "--devices", ",".join(str(d) for d in devices),
            "--label", options.label or plan.label]
    return args + (["--cuda-devices", ",".join(str(c) for c in cuda)] if cuda is not None else [])


def _rank_env(rank: int, world: int, port: int, launcher: Launcher) -> dict[str, str]:
    return bench_env({"MASTER_ADDR": launcher.master_addr, "MASTER_PORT": str(port), "RANK": str(rank),
                      "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
                      **launcher.env(rank)})


def _attempt(plan: Plan, devices: tuple[int, ...], cuda: Sequence[int] | None, options: BenchOptions,
             launcher: Launcher, on_event: EventHook | None, clock: Callable[[], float], stop: Stop) -> Attempt:
    port = launcher.port or free_port()
    args = _worker_args(plan, devices, cuda, options)
    state = _LocalWatch(options, plan, devices, clock())
    ending: Ending | None = None
    with Launch(options.grace_seconds) as launch:
        try:
            for rank in range(len(devices)):
                launch.start(rank, [*launcher.prefix(rank), *via_lifeline(launcher.python, WORKER, args)],
                             _rank_env(rank, len(devices), port, launcher))
        except OSError as exc:
            failures = {g: f"could not start the benchmark ranks: {exc}" for g in plan.groups}
        else:
            ending = watch(launch, state, on_event=on_event, clock=clock, stop=stop)
            failures = _failures(ending, state, launch)
        stopped = ending is not None and ending.how == "stopped"
        launch.close(kill=bool(failures) or stopped)
    completed = {g: rs for g, rs in state.results.items() if state.complete(g) and g not in failures}
    partial = {g: state.results.get(g, []) for g in failures}
    return Attempt(completed=completed, failures=failures, partial=partial, sessions=launch.sessions,
                   leftover_pids=launch.leftover, pci_bus_ids=dict(state.pci_bus_ids),
                   stopped=stopped)


def _failures(ending: Ending, state: _LocalWatch, launch: Launch) -> dict[Group, str]:
    """The groups an ended watch fails, each with the error naming it."""
    if ending.how == "deadline":
        return deadline_failures(state, ending.at, lambda: _startup_text(state))
    if ending.how == "exit":
        rank = ending.key
        message = state.errors.get(rank) or last_line(stderr_text(launch.stderr[rank]))
        gpu = "" if state.options.backend == "gloo" else f" (GPU{state.devices[rank]})"  # gloo ranks are CPU processes
        who = f"rank {rank}{gpu} {exit_text(ending.code)}" + (f": {message}" if message else "")
        return exit_failures(state, who, {rank})
    if ending.how == "stopped":
        return {g: f"{ending.why}; {state.voice.killed}" for g in state.unfinished()}
    # every rank exited 0: a group without all its results is still a failure
    return {g: f"{state.name(g)}: ranks exited without reporting every size ({state.where(g)})"
            for g in state.unfinished()}


def _startup_text(state: _LocalWatch) -> str:
    limit = f"{state.options.startup_timeout_seconds:g} s"
    world = len(state.devices)
    silent = sorted(set(range(world)) - state.launched - state.ready)
    if silent:
        return (f"watchdog: ranks {silent} did not start the worker within {limit} "
                f"(ranks {sorted(state.launched | state.ready)} waited at the rendezvous)")
    if len(state.ready) < world:
        return f"watchdog: rendezvous did not complete within {limit} (joined: {sorted(state.ready)})"
    return f"watchdog: the ranks joined but did not start measuring within {limit} (subgroups, host exchange)"
