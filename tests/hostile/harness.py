"""Run one hostile case: build its inputs in a fresh folder, run `python -m tpdoctor ...` as a user would,
under a deadline and a memory limit, and say what came back.

A case is one row of `cases.CASES`: a name, a builder that makes the inputs (a FIFO, a symlink to
/dev/zero, a report with a link to GPU99...) and returns the placeholders of the command line, the command
line, the exit code it must end with, a regex its one-line error must match, and a deadline. The same
runner serves the tests (`test_hostile.py`, on this tree) and the before/after table (`table.py`, on any
tree, e.g. /work/main with its own venv), so the table shows exactly what the tests check.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKESMI_BIN = ROOT / "tests" / "fakesmi"
MEMORY_LIMIT_BYTES = 4 << 30  # a run that reads /dev/zero must fail here, not take the machine with it
TRACEBACK = "Traceback (most recent call last)"

Inputs = Mapping[str, str]  # placeholder -> value; keys starting with "$" are environment variables
Builder = Callable[[Path], Inputs]


@dataclass(frozen=True)
class Case:
    """One class of bad input: `argv` holds `{placeholders}` that `build` fills in."""

    name: str
    build: Builder
    argv: tuple[str, ...]
    exit: int
    pattern: str  # must match the one-line error (first stderr line, or stdout with stream="stdout")
    deadline: float = 20.0  # seconds, start to exit, on a busy 2-core machine
    stream: str = "stderr"  # stderr: its first line (stdout's first line when stderr is empty); stdout: all
    check: Callable[[Path, Result], str | None] | None = None  # assertions on what it left behind; may say it
    issue: str = ""  # the item of issue 15 it comes from (1.-8.), or "+" for one added here (19.n: issue 19)
    cwd: str | None = None  # the working directory, a {placeholder} (default: the tree's root)
    stdout: str = "pipe"  # pipe | /dev/full | closed (a pipe whose reader is gone, like `| head -1` after its line)
    umask: int | None = None  # the run's umask (None: inherited)
    prefix: tuple[str, ...] = ()  # a command the run goes through, {placeholders} allowed (tests/hostile/ashost.py)
    root: bool = False  # acts as root against another user (nobody): run only where this runs as root


@dataclass
class Result:
    returncode: int | None  # None: still running at the deadline (killed)
    stdout: str
    stderr: str
    seconds: float
    argv: tuple[str, ...] = field(default=())

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.stdout or TRACEBACK in self.stderr

    def message(self, stream: str = "stderr") -> str:
        """The one line a user reads: the first line of stderr, else of stdout; with stream="stdout" the
        whole of stdout with its whitespace collapsed (a finding in a table or in JSON)."""
        if stream == "stdout":
            return " ".join(self.stdout.split())
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return ""


def _limiter(umask: int | None) -> Callable[[], None]:
    def limit() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
        if umask is not None:
            os.umask(umask)
    return limit


def command_line(case: Case, inputs: Inputs) -> tuple[str, ...]:
    values = {k: v for k, v in inputs.items() if not k.startswith("$")}
    return tuple(a.format(**values) for a in case.argv)


def _stdout(case: Case) -> tuple[int | None, list[int]]:
    """The child's stdout (None: a pipe read here) and the descriptors to close once it started."""
    if case.stdout == "/dev/full":
        fd = os.open("/dev/full", os.O_WRONLY)
        return fd, [fd]
    if case.stdout == "closed":
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first write: EPIPE
        return write, [write]
    return None, []


def run_case(case: Case, tmp: Path, *, root: Path = ROOT, python: str = sys.executable,
             kill_after: float | None = None) -> Result:
    """Build the inputs in `tmp` and run the case in `root` (a tpdoctor source tree) with `python`;
    a run still going after `kill_after` seconds (default: the deadline plus 10) is killed."""
    tmp.mkdir(parents=True, exist_ok=True)
    inputs = case.build(tmp)
    argv = command_line(case, inputs)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_"))}
    env.update(PYTHONPATH=str(root), COLUMNS="100", PATH=f"{FAKESMI_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
               FAKESMI_PIDFILE=str(tmp / "fakesmi.pids"))
    env.update({k[1:]: v for k, v in inputs.items() if k.startswith("$")})
    limit = case.deadline + 10 if kill_after is None else kill_after
    values = {k: v for k, v in inputs.items() if not k.startswith("$")}
    prefix = [a.format(python=python, hostile=str(Path(__file__).parent), **values) for a in case.prefix]
    cwd = case.cwd.format(**values) if case.cwd else root
    out_fd, close = _stdout(case)
    started = time.monotonic()
    # -P: the run imports nothing from its working directory, like the installed `tpdoctor` script
    proc = subprocess.Popen([*prefix, python, "-P", "-m", "tpdoctor", *argv], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if out_fd is None else out_fd,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                            preexec_fn=_limiter(case.umask))
    for fd in close:
        os.close(fd)
    try:
        out, err = proc.communicate(timeout=limit)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = _rest(proc)
        code = None
    finally:
        _kill_strays(tmp / "fakesmi.pids")
    return Result(code, out or "", err or "", time.monotonic() - started, argv)


def _rest(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """What a killed run had printed; a daemonised grandchild may hold its pipes, so do not wait long."""
    try:
        return proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "", ""


def _kill_strays(pidfile: Path) -> None:
    """The fake nvidia-smi's daemonised grandchildren (out of reach of every group kill)."""
    if not pidfile.exists():
        return
    for pid in pidfile.read_text().split():
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def summary(result: Result, case: Case) -> str:
    """One cell of the table: the exit code and the line a user reads."""
    if result.returncode is None:
        return f"still running at {result.seconds:.0f} s (killed)"
    if result.traceback:
        last = [ln for ln in result.stderr.splitlines() if ln.strip()]
        return f"exit {result.returncode}: traceback, {last[-1].strip() if last else ''}"
    line = result.message(case.stream)
    if case.stream == "stdout":
        found = re.search(case.pattern, line)
        line = found.group(0) if found else line
    return f"exit {result.returncode}: {shorten(line)}"


def shorten(text: str, limit: int = 150) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
