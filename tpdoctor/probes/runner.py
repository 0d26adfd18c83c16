"""The one place tpdoctor runs a subprocess: with a timeout, killing the whole process group on expiry.

Callers take a `Runner` parameter (default `run`) so tests inject a fake or put a fake binary on PATH;
nothing else in the package calls `subprocess`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tpdoctor.model.errors import ProbeError
from tpdoctor.model.settings import Bounds, number

POLL_SECONDS = 0.05  # how often a child's exit is checked while its pipes stay open
REAP_SECONDS = 1.0  # how long a killed child may take to die before this call returns without it


@dataclass(frozen=True)
class CommandResult:
    """What a finished command printed. Only successful runs (exit 0) become a result."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    returncode: int
    duration_seconds: float

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], *, timeout_seconds: float) -> CommandResult: ...


def _describe(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (the child and anything it spawned). Call it before the child
    is reaped: until then its pid, and so its group id, cannot be given to an unrelated process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT: it stays a zombie, its pid reserved)."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped elsewhere
        return True


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes, bool]:
    """Read the child's stdout and stderr until both close, or until the deadline; `finished` says whether
    the child itself has exited by then (it is not reaped here).

    End of output is not end of the command: a process the child started (a daemon in its own session,
    out of reach of the group kill) can hold the pipes open forever. So the child's exit is watched too:
    once it has exited, everything it wrote is already in the pipes; they are drained without waiting and
    the output is complete, whoever else still holds them. Nothing here waits past `deadline`.
    """
    chunks: dict[int, list[bytes]] = {}
    selector = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        assert pipe is not None
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ)
        chunks[pipe.fileno()] = []
    try:
        while selector.get_map():
            if _exited(proc):  # take what is buffered, stop at the first empty read
                for key in list(selector.get_map().values()):
                    _drain(key.fd, chunks[key.fd])
                break
            now = time.monotonic()
            if now >= deadline:
                break
            for key, _ in selector.select(min(deadline - now, POLL_SECONDS)):
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    finally:
        selector.close()
    while not _exited(proc) and time.monotonic() < deadline:  # the pipes closed before the child exited
        time.sleep(POLL_SECONDS)
    out, err = (b"".join(chunks[p.fileno()]) for p in (proc.stdout, proc.stderr) if p is not None)
    return out, err, _exited(proc)


def _drain(fd: int, into: list[bytes]) -> None:
    """Read a non-blocking pipe until it is empty (or closed)."""
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            return
        into.append(data)


def executable(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """`name` found on PATH's absolute directories only: an empty entry or `.` in PATH would run whatever
    `nvidia-smi` sits in the working directory (a shared /tmp, a user's submit folder) as root. A name
    with a slash is used as it is; None when not found."""
    if "/" in name:
        return name
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    return shutil.which(name, path=os.pathsep.join(p for p in path.split(os.pathsep) if os.path.isabs(p)))


def run(argv: Sequence[str], *, timeout_seconds: float,
        env: Mapping[str, str] | None = None) -> CommandResult:
    """Run `argv` without a shell, wait at most `timeout_seconds`, and return its output.

    A missing binary, a non-zero exit or a timeout raise `ProbeError` with one line naming the command
    and a hint; the process group is killed at the end so no orphan keeps running, and a descendant that
    escaped the group while holding the output pipes open cannot hold this call past the deadline.
    """

    argv = tuple(argv)
    what = _describe(argv)
    started = time.monotonic()
    exe = executable(argv[0], env)
    try:
        if exe is None:
            raise FileNotFoundError(argv[0])
        proc = subprocess.Popen(
            (exe, *argv[1:]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: a timeout kills it and its children
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise ProbeError(f"{argv[0]} not found (running {what})",
                         hint=f"is {argv[0]} installed in a directory on PATH? (only absolute PATH entries "
                              "are searched)") from None
    except PermissionError:
        raise ProbeError(f"{argv[0]} is not executable (running {what})",
                         hint="check the file's permissions") from None
    try:
        out, err, finished = _collect(proc, started + timeout_seconds)
    finally:
        # timed out, interrupted (KeyboardInterrupt), or done with strays of its group still holding the
        # pipes: leave nothing behind. The child is not reaped yet, so its group id is still its own.
        _kill_group(proc)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a child stuck in the driver (D state) may
            proc.wait(timeout=REAP_SECONDS)  # not die at once: never wait for it past this
    if not finished:
        raise ProbeError(f"{what} timed out after {timeout_seconds:g} s",
                         hint="the driver may be hung; check `dmesg` for Xid errors")
    duration = time.monotonic() - started
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        from tpdoctor.probes.smi_notices import failure_line

        detail = failure_line(stdout + "\n" + stderr, limit=160)
        suffix = f": {detail}" if detail else ""
        raise CommandFailed(f"{what} exited with status {proc.returncode}{suffix}",
                            hint="run the command by hand to see its full output",
                            returncode=proc.returncode, stdout=stdout, stderr=stderr)
    return CommandResult(argv, stdout, stderr, proc.returncode, duration)


class CommandFailed(ProbeError):
    """A command that ran and exited non-zero; keeps its output, which is evidence like any other: nvidia-smi
    prints a complete output and exits 14 when an infoROM is corrupted. The message quotes the line that says
    what failed (`smi_notices.failure_line`), never the header of the output."""

    def __init__(self, message: str, *, hint: str | None, returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def env_seconds(name: str, default: float, bounds: Bounds, environ: Mapping[str, str] = os.environ) -> float:
    """A number of seconds from the environment variable `name`, else `default`; a value that is not a
    finite number within `bounds` (model/settings.py) is a SettingError naming the variable."""
    raw = environ.get(name)
    if not raw:
        return default
    return number(raw, f"${name}", bounds)
