"""The lifeline: a process started through it carries the parent-death signal, refuses to run when its
parent is already gone, and the parent's Termination turns a stop signal into a flag, then a BenchError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tpdoctor.bench import lifeline
from tpdoctor.bench.lifeline import PARENT_VARIABLE, Termination, die_with_parent, via_lifeline
from tpdoctor.model.errors import BenchError

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize(("version", "flags"), [((3, 9, 18), []), ((3, 10, 14), []), ((3, 11, 0), ["-P"]),
                                                ((3, 13, 1), ["-P"])])
def test_ranks_get_minus_p_only_from_a_python_that_knows_it(monkeypatch: pytest.MonkeyPatch,
                                                            version: tuple[int, int, int],
                                                            flags: list[str]) -> None:
    """Python 3.9 and 3.10 stop at once on `-P` ("Unknown option: -P"): no rank would ever start."""
    monkeypatch.setattr(sys, "version_info", version)
    assert via_lifeline("/py", "mod", ["a"]) == ["/py", *flags, "-m", "tpdoctor.bench.lifeline", "mod", "a"]
    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(lifeline.os, "execv", lambda path, argv: execs.append((path, list(argv))))
    monkeypatch.delenv(PARENT_VARIABLE, raising=False)
    monkeypatch.setattr(lifeline, "die_with_parent", lambda expected: True)
    lifeline.main(["mod", "a"])
    assert execs == [(sys.executable, [sys.executable, *flags, "-m", "mod", "a"])]


def test_lifeline_sets_the_parent_death_signal_and_records_itself_for_its_children() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{PARENT_VARIABLE: str(os.getpid())})
    proc = subprocess.run([sys.executable, "-m", "tpdoctor.bench.lifeline", "tests.bench.pdeathsig_child"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(int(signal.SIGKILL)), "True"]


def test_lifeline_refuses_to_run_when_its_parent_is_already_gone() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{PARENT_VARIABLE: "1"})  # not our parent: it "died"
    proc = subprocess.run([sys.executable, "-m", "tpdoctor.bench.lifeline", "tests.bench.pdeathsig_child"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and proc.stdout == "" and "parent 1 exited" in proc.stderr
    asked: list[int] = []
    assert die_with_parent(42, prctl=lambda s: asked.append(s) or True, getppid=lambda: 42)
    assert not die_with_parent(42, prctl=lambda s: True, getppid=lambda: 1)
    assert asked == [signal.SIGKILL]


def test_termination_turns_a_signal_into_a_flag_then_an_error_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup: stays ignored
    try:
        with Termination() as stop:
            assert stop() is None and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            assert _wait_for(lambda: stop() is not None, 5)
            os.kill(os.getpid(), signal.SIGINT)  # a second signal: still the first reason, no exception
            time.sleep(0.05)
            assert stop() == "terminated by SIGTERM"
        assert signal.getsignal(signal.SIGTERM) == before
        with pytest.raises(BenchError, match="terminated by SIGTERM; every rank was killed"):
            stop.check()
        with pytest.raises(BenchError, match=r"processes \[7\] survived"):
            stop.check([7])
    finally:
        signal.signal(signal.SIGHUP, previous_hup)
