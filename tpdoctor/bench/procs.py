"""Process-tree bookkeeping from /proc (no psutil): which processes are still in our sessions, kill them all.

Each rank is started in its own session (`start_new_session=True`), so its session id is its pid and every
process it forks stays in that session unless it calls setsid itself. Killing the process group of each
session, then sweeping /proc for anything left in those sessions, leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int, proc: Path = PROC) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces and parentheses)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    _, _, rest = text.rpartition(")")
    return rest.split()


def is_alive(pid: int, proc: Path = PROC) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat_fields(pid, proc)
    return fields is not None and fields[0] not in ("Z", "X")


def session_members(sessions: Iterable[int], proc: Path = PROC) -> list[int]:
    """Live (non-zombie) pids whose session id is one of `sessions`."""
    wanted = set(sessions)
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name), proc)
        # after ")": state ppid pgrp session ...
        if fields is None or len(fields) < 4 or fields[0] in ("Z", "X"):
            continue
        if int(fields[3]) in wanted:
            found.append(int(entry.name))
    return sorted(found)


def kill_sessions(sessions: Iterable[int], *, grace_seconds: float = 1.0,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> list[int]:
    """SIGTERM every process group, SIGKILL what survives the grace period, sweep stragglers by pid.

    Returns the pids still alive afterwards (empty unless something escaped with setsid or is unkillable).
    """
    sessions = list(sessions)
    for sid in sessions:
        _signal_group(sid, signal.SIGTERM)
    deadline = clock() + grace_seconds
    while session_members(sessions) and clock() < deadline:
        sleep(0.05)
    for _ in range(3):
        left = session_members(sessions)
        if not left:
            return []
        for sid in sessions:
            _signal_group(sid, signal.SIGKILL)
        for pid in left:  # a member that moved to another process group of the same session
            _signal_pid(pid, signal.SIGKILL)
        sleep(0.05)
    return session_members(sessions)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


TAG_VARIABLE = "TPDOCTOR_BENCH_TAG"


def tagged(tag: str, proc: Path = PROC, *, variable: str = TAG_VARIABLE) -> list[int]:
    """Live pids whose environment carries `TPDOCTOR_BENCH_TAG=tag` (or `variable=tag`).

    torchrun starts each worker in a session of its own, and a worker whose agent died is re-parented, so
    neither sessions nor the parent tree reach every rank; the environment each inherited does.
    """
    needle = f"{variable}={tag}".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and is_alive(int(entry.name), proc):
            found.append(int(entry.name))
    return sorted(found)


def kill_tagged(tag: str, sessions: Iterable[int], *, grace_seconds: float = 1.0,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> list[int]:
    """SIGTERM the sessions (torchrun then stops its workers itself), then SIGKILL the process group of
    every process still carrying the tag, and the process. Returns the tagged pids left (should be none)."""
    sessions = list(sessions)
    for sid in sessions:
        _signal_group(sid, signal.SIGTERM)
    deadline = clock() + grace_seconds
    while (tagged(tag) or session_members(sessions)) and clock() < deadline:
        sleep(0.05)
    for _ in range(5):
        left = sorted(set(tagged(tag)) | set(session_members(sessions)))
        if not left:
            return []
        for pid in left:
            _signal_group(pid, signal.SIGKILL)  # a torchrun worker leads its own group
            _signal_pid(pid, signal.SIGKILL)
        for sid in sessions:
            _signal_group(sid, signal.SIGKILL)
        sleep(0.1)
    return sorted(set(tagged(tag)) | set(session_members(sessions)))
