"""The launcher: start a benchmark's processes, collect their event lines, and take every one of them down.

Local ranks (`runner.py`, one process per rank) and the torchrun agent (`torchrun.py`, one process that
starts this node's ranks) are both started here, each process:

- through `tpdoctor.bench.lifeline`, so it dies with this process, even when this process is SIGKILLed;
- in a session of its own, stdout read line by line into one queue, stderr kept in a temporary file;
- with this launch's tag in its environment (`TPDOCTOR_BENCH_TAG`), which every descendant inherits, also
  the ranks torchrun starts in sessions of their own.

`close()` (also on leaving the `with` block) SIGTERMs the sessions when something is still running or the
launch failed, SIGKILLs whatever still carries the tag or sits in one of the sessions, and reaps; a process
that survives even that is reported in `leftover`, never silently left behind.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import tpdoctor
from tpdoctor.bench.devices import ORDER_VARIABLE, PCI_BUS_ID
from tpdoctor.bench.lifeline import PARENT_VARIABLE
from tpdoctor.bench.plan import Group
from tpdoctor.bench.procs import TAG_VARIABLE, kill_tagged, session_members, tagged
from tpdoctor.model.bench import BenchResult

Line = tuple[str, int, str]  # ("line" | "eof", process key, text)
RANK_CWD = "/"  # every benchmark process starts here: a directory only root can write (see bench_env)


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


@dataclass(frozen=True)
class BenchRun:
    results: tuple[BenchResult, ...]
    attempts: int
    sessions: tuple[int, ...]  # every launched process's session id (= its pid), to check nothing is left
    leftover_pids: tuple[int, ...]  # processes that survived the kill (should be empty)
    wall_seconds: float
    errors: tuple[str, ...] = field(default=())
    pci_bus_ids: tuple[str | None, ...] = ()  # by rank: the device each rank reported it ran on


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every benchmark process: this tpdoctor on PYTHONPATH, one OpenMP thread unless
    set, unbuffered output, CUDA devices numbered in PCI bus order (`devices.py`), then `extra`.

    Nothing is imported from the working directory (a `torch.py` any user can drop into /tmp or a shared
    submit directory would run as root): PYTHONSAFEPATH=1 (`-P` for every Python torchrun starts too),
    PYTHONPATH without relative entries (an empty one means the working directory), and every process
    starts in `RANK_CWD`."""
    env = dict(os.environ if base is None else base)
    root = str(Path(tpdoctor.__file__).resolve().parent.parent)
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if os.path.isabs(p) and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *kept])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1", ORDER_VARIABLE: PCI_BUS_ID})
    env.update(extra or {})
    return env


def worker_args(rounds: Sequence[Sequence[Group]], options: BenchOptions) -> list[str]:
    """The worker's options for a plan, torch's own collective timeout well beyond every deadline here."""
    torch_timeout = options.startup_timeout_seconds + options.timeout_seconds * (len(options.sizes) + 2) \
        * max(1, len(rounds))
    return ["--backend", options.backend, "--sizes", ",".join(str(s) for s in options.sizes),
            "--iters", str(options.iters), "--warmup", str(options.warmup), "--dtype", options.dtype,
            "--plan", json.dumps([[list(g) for g in rnd] for rnd in rounds]), "--timeout", f"{torch_timeout:g}"]


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def stderr_text(fh: IO[bytes], limit: int = 20000) -> str:
    """The last `limit` bytes a process wrote to its stderr file."""
    try:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - limit))
        return fh.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""


def last_line(text: str, limit: int = 300) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][-limit:] if lines else ""


def _read_lines(key: int, stream: IO[str], lines: queue.Queue[Line]) -> None:
    try:
        for line in stream:
            lines.put(("line", key, line.rstrip("\n")))
    except (OSError, ValueError):
        pass
    finally:
        lines.put(("eof", key, ""))


class Launch:
    """The processes of one launch (keys: ranks, or 0 for a torchrun agent) and their event lines."""

    def __init__(self, grace_seconds: float = 1.0) -> None:
        self.grace_seconds = grace_seconds
        self.tag = uuid.uuid4().hex
        self.lines: queue.Queue[Line] = queue.Queue()
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.stderr: dict[int, IO[bytes]] = {}
        self.leftover: tuple[int, ...] = ()
        self._readers: list[threading.Thread] = []
        self._closed = False

    @property
    def sessions(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs.values())

    def start(self, key: int, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """Start one process (from this thread: its parent-death signal is tied to it); OSError if it
        cannot be started."""
        err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.stderr[key] = err
        env = {**env, TAG_VARIABLE: self.tag, PARENT_VARIABLE: str(os.getpid())}
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                env=env, text=True, start_new_session=True, cwd=RANK_CWD)
        self.procs[key] = proc
        assert proc.stdout is not None
        reader = threading.Thread(target=_read_lines, args=(key, proc.stdout, self.lines), daemon=True)
        reader.start()
        self._readers.append(reader)

    def stray(self) -> bool:
        """Anything of this launch still running: a process, or a child a finished process left."""
        return (any(p.poll() is None for p in self.procs.values()) or bool(session_members(self.sessions))
                or bool(tagged(self.tag)))

    def close(self, *, kill: bool = False) -> tuple[int, ...]:
        """Kill what is left (always when `kill`), reap, stop the readers; returns the pids that survived."""
        if self._closed:
            return self.leftover
        self._closed = True
        leftover: list[int] = []
        if kill or self.stray():
            leftover = kill_tagged(self.tag, self.sessions, grace_seconds=self.grace_seconds)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                leftover.append(proc.pid)
            if proc.stdout is not None:
                proc.stdout.close()
        for reader in self._readers:
            reader.join(timeout=2)
        for fh in self.stderr.values():
            fh.close()
        self.leftover = tuple(sorted(set(leftover)))
        return self.leftover

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(kill=exc is not None)
