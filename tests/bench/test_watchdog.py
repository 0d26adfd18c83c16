"""A rank that hangs (SIGSTOP: a peer that stops answering, like a deadlocked NCCL) or dies (SIGKILL) is
caught by the watchdog within its deadline; every rank process is gone afterwards; the failure is a result
whose `error` names the group; the other groups are still measured.

The victim stops answering after its group's first size (the worker's test hook), so the sizes after it
cannot finish before the saboteur's signal lands, however loaded the machine is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from tests.bench.helpers import requires_torch, stuck_env
from tpdoctor.bench.launch import BenchOptions
from tpdoctor.bench.plan import plan_group, plan_pairs
from tpdoctor.bench.procs import is_alive, kill_sessions, session_members
from tpdoctor.bench.runner import Launcher, run_plan

pytestmark = requires_torch

SIZES = (1024, 4096, 16384)
TIMEOUT_S = 3.0


def _options() -> BenchOptions:
    return BenchOptions(backend="gloo", sizes=SIZES, iters=3, warmup=1, timeout_seconds=TIMEOUT_S,
                        startup_timeout_seconds=90.0, grace_seconds=0.5)


def _stops_after_first_size(rank: int, group: list[int]) -> Launcher:
    """Ranks whose `rank`, in `group`, stops answering once the group has measured its first size."""
    return Launcher(env=lambda r: stuck_env(rank, group, 1))


class Saboteur:
    """Sends `sig` to the rank `victim` as soon as its group has finished its first size."""

    def __init__(self, victim: int, group: list[int], sig: signal.Signals) -> None:
        self.victim, self.group, self.sig = victim, group, sig
        self.pids: dict[int, int] = {}
        self.fired_at: float | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "ready":
            self.pids[event["rank"]] = event["pid"]
        if (event["event"] == "result" and self.fired_at is None
                and event["result"]["group"] == self.group):
            os.kill(self.pids[self.victim], self.sig)
            self.fired_at = time.monotonic()


def _assert_nothing_left(run: Any, pids: dict[int, int]) -> None:
    assert run.leftover_pids == ()
    assert session_members(run.sessions) == []
    assert not [p for p in pids.values() if is_alive(p)]


def test_hung_rank_is_caught_within_deadline_and_leaves_nothing_behind() -> None:
    saboteur = Saboteur(victim=1, group=[0, 1], sig=signal.SIGSTOP)
    run = run_plan(plan_group((0, 1), 2), [0, 1], _options(), on_event=saboteur,
                   launcher=_stops_after_first_size(1, [0, 1]))
    end = time.monotonic()
    assert saboteur.fired_at is not None
    # the deadline plus the kill's grace period and bookkeeping, never a hang
    assert end - saboteur.fired_at < TIMEOUT_S + 5
    ok = [r for r in run.results if r.error is None]
    bad = [r for r in run.results if r.error is not None]
    assert [r.bytes for r in ok] == [1024] and ok[0].correct
    assert [r.bytes for r in bad] == [4096, 16384]
    for r in bad:
        assert "watchdog" in r.error and "rank0+rank1" in r.error and r.busbw_gbps == 0.0 and not r.correct
    assert "4K B" in bad[0].error  # where it stopped
    _assert_nothing_left(run, saboteur.pids)


def test_killed_rank_fails_its_pair_and_the_other_pairs_are_still_measured() -> None:
    saboteur = Saboteur(victim=3, group=[0, 3], sig=signal.SIGKILL)  # (0,3) runs in round 0 for n=4
    run = run_plan(plan_pairs(4), [0, 1, 2, 3], _options(), on_event=saboteur,
                   launcher=_stops_after_first_size(3, [0, 3]))
    assert saboteur.fired_at is not None
    by_group: dict[tuple[int, ...], list[Any]] = {}
    for r in run.results:
        by_group.setdefault(r.group, []).append(r)
    assert sorted(by_group) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    failed = by_group.pop((0, 3))
    assert [r.error is None for r in failed] == [True, False, False]
    assert "rank 3 was killed" in failed[1].error and "SIGKILL" in failed[1].error
    assert "rank0+rank3" in failed[1].error
    for group, results in by_group.items():
        assert [r.bytes for r in results] == list(SIZES), group
        assert all(r.error is None and r.correct for r in results), group
    assert run.attempts == 2  # the remaining pairs were launched again without (0, 3)
    _assert_nothing_left(run, saboteur.pids)


def test_rank_that_never_joins_is_caught_by_the_startup_deadline() -> None:
    """A dead peer at start-up: rank 1 sleeps instead of running the worker; rank 0 waits in rendezvous."""

    def prefix(rank: int) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(600)"] if rank == 1 else []

    # Generous enough for rank 0 to import torch on a loaded 2-core CI machine.
    startup = 10.0
    options = BenchOptions(backend="gloo", sizes=(1024,), iters=2, warmup=1, timeout_seconds=TIMEOUT_S,
                           startup_timeout_seconds=startup, grace_seconds=0.5)
    t0 = time.monotonic()
    run = run_plan(plan_group((0, 1), 2), [0, 1], options, launcher=Launcher(prefix=prefix))
    assert time.monotonic() - t0 < startup + 5
    (result,) = run.results
    assert result.error is not None and "ranks [1] did not start" in result.error
    assert "ranks [0] waited at the rendezvous" in result.error
    assert "rank0+rank1" in result.error
    assert run.leftover_pids == () and session_members(run.sessions) == []


def test_kill_sessions_takes_the_whole_tree() -> None:
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(session_members([proc.pid])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(session_members([proc.pid])) == 3
    assert kill_sessions([proc.pid], grace_seconds=0.5) == []
    proc.wait(timeout=5)
    assert session_members([proc.pid]) == [] and not is_alive(proc.pid)
