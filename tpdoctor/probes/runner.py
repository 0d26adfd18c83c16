"""The one place tpdoctor runs a subprocess: with a timeout, killing the whole process group on expiry.

Callers take a `Runner` parameter (default `run`) so tests inject a fake or put a fake binary on PATH;
nothing else in the package calls `subprocess`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tpdoctor.model.errors import ProbeError


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
    """Kill the child's whole process group (the child and anything it spawned)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def run(argv: Sequence[str], *, timeout_seconds: float,
        env: Mapping[str, str] | None = None) -> CommandResult:
    """Run `argv` without a shell, wait at most `timeout_seconds`, and return its output.

    A missing binary, a non-zero exit or a timeout raise `ProbeError` with one line naming the command
    and a hint; on timeout the process group is killed so no orphan keeps running.
    """

    argv = tuple(argv)
    what = _describe(argv)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: a timeout kills it and its children
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        raise ProbeError(f"{argv[0]} not found (running {what})",
                         hint=f"is {argv[0]} installed and on PATH?") from None
    except PermissionError:
        raise ProbeError(f"{argv[0]} is not executable (running {what})",
                         hint="check the file's permissions") from None
    try:
        out, err = proc.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise ProbeError(f"{what} timed out after {timeout_seconds:g} s",
                         hint="the driver may be hung; check `dmesg` for Xid errors") from None
    finally:
        if proc.poll() is None:  # interrupted (e.g. KeyboardInterrupt): leave nothing behind
            _kill_group(proc)
    duration = time.monotonic() - started
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        detail = first_line(stdout + "\n" + stderr)
        suffix = f": {detail}" if detail else ""
        raise CommandFailed(f"{what} exited with status {proc.returncode}{suffix}",
                            hint="run the command by hand to see its full output",
                            returncode=proc.returncode, stdout=stdout, stderr=stderr)
    return CommandResult(argv, stdout, stderr, proc.returncode, duration)


class CommandFailed(ProbeError):
    """A command that ran and exited non-zero; keeps its output so callers can recognise known failures."""

    def __init__(self, message: str, *, hint: str | None, returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def first_line(text: str, limit: int = 160) -> str:
    """The first non-blank line of `text`, shortened to `limit` characters."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""
