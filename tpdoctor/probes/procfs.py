"""Reading processes from `/proc` — through an injectable root, bounded, as hostile input.

tpdoctor runs as root and reads other users' processes: a command line can be megabytes long, hold escape
sequences that would drive a terminal, bytes that are not UTF-8, or secrets. So every read is capped, every
text is decoded with replacement and made printable (`model/safetext.py`: control characters and bidi
overrides become `\\xNN` / `\\uNNNN`), the environment keeps only the variables tpdoctor reads
(`data/running.yaml`) and every secret is redacted before anything leaves this module (`model/redact.py`).
A process can exit between two reads: whatever was read stays, the rest is `unread` with why. The root is
`/proc` ($TPDOCTOR_PROC_ROOT for tests and replays of a tree).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tpdoctor.model.engine_procs import structure
from tpdoctor.model.redact import redact_args, redact_env
from tpdoctor.model.running import HOST_PID_NS_INODE, PID_MAX, Process
from tpdoctor.model.safetext import clean
from tpdoctor.probes import cgroups

PROC_ROOT_ENV = "TPDOCTOR_PROC_ROOT"
MAX_CMDLINE_BYTES = 128 * 1024  # the kernel allows 2 MiB and more; a serving command is a few KiB
MAX_ENVIRON_BYTES = 256 * 1024
MAX_SMALL_BYTES = 64 * 1024  # stat, status, cgroup
MAX_ARGS = 512
MAX_ARG_CHARS = 4096
MAX_ANCESTORS = 64


class Gone(Exception):
    """The process is not (or no longer) in this /proc."""


class Denied(Exception):
    """This file of the process may not be read by tpdoctor."""


def proc_root(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(PROC_ROOT_ENV) or "/proc")


def printable(text: str, limit: int = MAX_ARG_CHARS) -> str:
    """Text safe to print, `safetext.clean`'s spelling (controls, escape sequences, newlines, C1, bidi
    overrides and isolates, line separators as a visible escape), at most `limit` characters after the
    escaping (a longer text ends with `…`)."""
    out = clean(text, limit)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def read_bounded(path: Path, limit: int) -> tuple[bytes, bool]:
    """(at most `limit` bytes of the file, whether there was more). Gone / Denied on the usual errors; the
    open never blocks and never follows a symbolic link at the last component (`cgroups.read_regular`)."""
    try:
        return cgroups.read_regular(path, limit)
    except cgroups.NotRegular as exc:
        raise Denied(str(exc)) from None
    except OSError as exc:
        raise _error(exc) from None


def _error(exc: OSError) -> Exception:
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return Gone("no such process")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Denied("permission denied")
    return Denied(f"cannot read ({exc.strerror or exc})")


def pid_namespace(root: Path) -> str:
    """`host` when this /proc belongs to the initial PID namespace (the one the driver reports PIDs in),
    else why not: `other (pid:[…])` or `unknown (…)`."""
    try:
        link = os.readlink(root / "self" / "ns" / "pid")
    except OSError as exc:
        return f"unknown ({root}/self/ns/pid: {exc.strerror or exc})"
    return "host" if link == f"pid:[{HOST_PID_NS_INODE}]" else f"other ({link}: a container without hostPID)"


def parse_stat(text: str) -> tuple[str, int | None]:
    """(comm, ppid) of `/proc/PID/stat`: the name is between the first `(` and the last `)` (it may hold
    spaces and parentheses itself)."""
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return "", None
    fields = text[end + 1:].split()
    ppid = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    return printable(text[start + 1:end], 64), ppid if ppid is None or 0 <= ppid <= PID_MAX else None


def split_nul(data: bytes, *, max_items: int = MAX_ARGS) -> list[str]:
    """NUL-separated strings (cmdline, environ), decoded with replacement; trailing empty ones dropped (a
    setproctitle'd process pads its title with NULs)."""
    items = [b.decode("utf-8", "replace") for b in data.split(b"\0")]
    while items and not items[-1]:
        items.pop()
    return items[:max_items]


@dataclass(frozen=True)
class Reader:
    root: Path
    kubelet: Path

    def process(self, pid: int) -> Process:
        """Everything tpdoctor reads of one process (Gone when it is not in this /proc)."""
        base = self.root / str(pid)
        stat_bytes, _ = read_bounded(base / "stat", MAX_SMALL_BYTES)  # Gone: not here at all
        name, ppid = parse_stat(stat_bytes.decode("utf-8", "replace"))
        unread: dict[str, str] = {}
        cmdline, truncated = self._cmdline(base, unread)
        env = self._environ(base, unread)
        paths = self._cgroups(base, unread)
        pod_uid = cgroups.pod_uid(paths)
        return Process(pid=pid, ppid=ppid, name=name, cmdline=cmdline, cmdline_truncated=truncated, env=env,
                       cgroup=printable(cgroups.main_path(paths), 512), container=cgroups.container_of(paths),
                       pod=cgroups.pod_of(pod_uid, self.kubelet) if pod_uid else None,
                       slurm=cgroups.slurm_of(paths, env), nspid=self._nspid(base), unread=unread)

    def _cmdline(self, base: Path, unread: dict[str, str]) -> tuple[tuple[str, ...], bool]:
        try:
            data, more = read_bounded(base / "cmdline", MAX_CMDLINE_BYTES)
        except (Gone, Denied) as exc:
            unread["cmdline"] = str(exc)
            return (), False
        args = split_nul(data)
        if not args:
            unread["cmdline"] = "empty (a kernel thread, a zombie, or a process that cleared it)"
        many = len(data.split(b"\0")) > MAX_ARGS
        return redact_args(printable(a) for a in args), more or many

    def _environ(self, base: Path, unread: dict[str, str]) -> dict[str, str]:
        try:
            data, _ = read_bounded(base / "environ", MAX_ENVIRON_BYTES)
        except (Gone, Denied) as exc:
            unread["environ"] = str(exc)
            return {}
        keep = structure()
        env: dict[str, str] = {}
        for item in split_nul(data, max_items=8192):
            name, sep, value = item.partition("=")
            if sep and keep.keeps(name):
                env[name] = printable(value, 1024)
        return redact_env(env)

    def _cgroups(self, base: Path, unread: dict[str, str]) -> list[str]:
        try:
            data, _ = read_bounded(base / "cgroup", MAX_SMALL_BYTES)
        except (Gone, Denied) as exc:
            unread["cgroup"] = str(exc)
            return []
        return cgroups.cgroup_paths(data.decode("utf-8", "replace"))

    def _nspid(self, base: Path) -> tuple[int, ...]:
        try:
            data, _ = read_bounded(base / "status", MAX_SMALL_BYTES)
        except (Gone, Denied):
            return ()
        for line in data.decode("utf-8", "replace").splitlines():
            if line.startswith("NSpid:"):
                return tuple(int(x) for x in line.split()[1:9] if x.isdigit() and int(x) <= PID_MAX)
        return ()

    def with_ancestors(self, pid: int, seen: dict[int, Process]) -> None:
        """Read `pid` and its ancestors into `seen` (up to MAX_ANCESTORS, stopping at PID 1 or a loop);
        Gone or Denied for `pid` itself propagates; an ancestor that vanished or cannot be read ends the chain
        (the holder was read: it is seen, not hidden)."""
        current: int | None = pid
        for depth in range(MAX_ANCESTORS):
            if current is None or current <= 0 or current in seen:
                return
            try:
                proc = self.process(current)
            except (Gone, Denied):
                if depth == 0:
                    raise
                return
            seen[current] = proc
            if current == 1:
                return
            current = proc.ppid
