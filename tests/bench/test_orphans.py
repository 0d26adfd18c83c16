"""Ranks die with their parent. SIGTERM or SIGKILL to `tpdoctor bench` (what `timeout`, `systemctl stop` or
a pod eviction send) while a rank is stuck leaves no rank alive a few seconds later, for local ranks and
through torchrun; SIGTERM ends the command with exit 3 and a message, after killing every rank."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.helpers import MARK_VARIABLE, ROOT, Nodes, kill_marked, marked, requires_torch, stuck_env

GONE_WITHIN_S = 10.0  # measured: well under a second after SIGKILL, about a second after SIGTERM


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stuck(rank: int, group: list[int], flag: Path) -> dict[str, str]:
    """The environment that makes `rank` stop answering before its group's first size (creating `flag`)."""
    return stuck_env(rank, group, 0, flag)


def _gone_after(pids: list[int], mark: str) -> float:
    """Seconds until none of `pids` is alive (or the limit, then the test fails)."""
    t0 = time.monotonic()
    _wait_for(lambda: not set(pids) & set(marked(mark)), GONE_WITHIN_S)
    return time.monotonic() - t0


@requires_torch
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_local_ranks_die_with_the_command(sig: signal.Signals, tmp_path: Path) -> None:
    mark, flag = uuid.uuid4().hex, tmp_path / "stuck"
    env = dict(os.environ, **{MARK_VARIABLE: mark}, **_stuck(1, [0, 1, 2, 3], flag))
    cmd = [sys.executable, "-m", "tpdoctor", "bench", "--backend", "gloo", "--world-size", "4", "--sizes", "1K",
           "--iters", "2", "--warmup", "1", "--timeout", "300", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert _wait_for(flag.exists, 90), "rank 1 never reached its stuck point"
        ranks = [p for p in marked(mark) if p != proc.pid]
        assert len(ranks) == 4
        os.kill(proc.pid, sig)
        elapsed = _gone_after(ranks, mark)
        stdout, stderr = proc.communicate(timeout=30)
        assert not set(ranks) & set(marked(mark)), f"ranks alive {GONE_WITHIN_S} s after {sig.name}"
        print(f"{sig.name}: every rank gone {elapsed:.2f} s after the signal")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_marked(mark)
    if sig == signal.SIGTERM:
        assert proc.returncode == 3 and stdout == ""
        assert "terminated by SIGTERM; every rank was killed" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL


@requires_torch
def test_torchrun_agents_and_their_ranks_die_with_the_command(tmp_path: Path) -> None:
    """Node 0's command is SIGKILLed (its agent and rank go by the parent-death signal), node 1's gets
    SIGTERM (it stops its agent and rank, then exits 3), while node 1's rank is stuck."""
    flag = tmp_path / "stuck"
    nodes = Nodes(tmp_path, "--sizes", "1K", "--iters", "2", "--warmup", "1", "--timeout", "300")
    try:
        for side in (0, 1):
            nodes.start(side, _stuck(1, [0, 1], flag))
        assert _wait_for(flag.exists, 90), "rank 1 never reached its stuck point"
        parents = {p.pid for p in nodes.procs.values()}
        others = [p for p in marked(nodes.mark) if p not in parents]
        assert len(others) == 4  # two torchrun agents, two ranks
        os.kill(nodes.procs[0].pid, signal.SIGKILL)
        os.kill(nodes.procs[1].pid, signal.SIGTERM)
        elapsed = _gone_after(others, nodes.mark)
        assert not set(others) & set(marked(nodes.mark))
        print(f"torchrun: agents and ranks gone {elapsed:.2f} s after SIGKILL (node 0) and SIGTERM (node 1)")
        _, stderr = nodes.procs[1].communicate(timeout=30)
        assert nodes.procs[1].returncode == 3 and "terminated by SIGTERM" in stderr
        assert nodes.procs[0].wait(timeout=30) == -signal.SIGKILL
    finally:
        for p in nodes.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        kill_marked(nodes.mark)
