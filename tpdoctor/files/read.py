"""Reading a file someone handed us (a capture, a manifest, a report, a baseline, a rule): bounded.

One reader for every input path, so no command can be made to hang or to eat memory by its input:
- only regular files: a FIFO, a device (`/dev/zero`, also through a symlink), a socket or a directory is
  refused at once. The open itself never blocks (O_NONBLOCK: opening a FIFO with no writer would);
- size-capped before reading, and reading stops one byte past the cap (a file that grows meanwhile);
- text must be UTF-8 unless the caller allows replacement; NUL bytes near the start mean "binary".
Every refusal is an `InputError` naming the path and the reason, in one line.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from tpdoctor.files.owned import check_ours, kind
from tpdoctor.model.errors import InputError

MAX_BYTES = 64 * 1024 * 1024  # captures and manifests are kilobytes; a fleet report a few MiB



STDIN = "-"  # a path argument that reads one file takes `-` for standard input, bounded the same way
# Standard input is one file: read once, its bytes kept (with the stream they came from and the bound they
# were read under), so every later read of `-` in the run gets the same bytes (`fleet -` judges the report
# twice: once as the fleet reads it, once whole), not an empty stream.
_kept: list[tuple[object, bytes, int]] = []


def read_bytes(path: str | Path, *, max_bytes: int = MAX_BYTES, ours: str | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (`-`: standard input, at most as much); InputError
    otherwise. `ours` names a state file of tpdoctor's own ("baseline"): then it is not followed through a
    symlink and must be a regular file of this user that no one else can write (`owned.check_ours`)."""
    p = str(path)
    if p == STDIN:
        return _stdin(max_bytes)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if ours else 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP and ours:
            raise InputError(f"{p}: the {ours} is a symbolic link; tpdoctor reads its own state only from "
                             "a file of its own", hint=f"remove the link (rm {p})") from None
        if exc.errno == errno.ENOENT and os.path.islink(p):
            raise InputError(f"{p}: a dangling symbolic link (its target {os.readlink(p)} does not exist)") from None
        raise InputError(f"{p}: {_why(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{p}: is {kind(st.st_mode)}, not a regular file")  # fstat: never a symlink
        if ours:
            check_ours(st, p, ours, error=InputError)
        if st.st_size > max_bytes:
            raise InputError(f"{p}: {st.st_size} bytes, more than the {_human(max_bytes)} an input may have")
        data = _read_at_most(lambda n: os.read(fd, n), max_bytes)
        if len(data) > max_bytes:
            raise InputError(f"{p}: grew past {_human(max_bytes)} while being read")
        return data
    except OSError as exc:
        raise InputError(f"{p}: {_why(exc)}") from None
    finally:
        os.close(fd)


def _stdin(max_bytes: int) -> bytes:
    stream = sys.stdin.buffer if sys.stdin is not None else None
    if stream is None:
        raise InputError("-: no standard input to read")
    if _kept and _kept[0][0] is stream:
        _, data, bound = _kept[0]
    else:
        if stream.isatty():
            raise InputError("-: standard input is a terminal", hint="pipe the file in: ... | tpdoctor ... -")
        data, bound = _read_at_most(stream.read, max_bytes), max_bytes
        _kept[:] = [(stream, data, bound)]
    if len(data) > min(max_bytes, bound):  # past the bound it was read under, only that much was read
        raise InputError(f"-: standard input is more than the {_human(min(max_bytes, bound))} an input may have")
    return data


def _read_at_most(read: Callable[[int], bytes], max_bytes: int) -> bytes:
    """Up to `max_bytes` + 1 bytes, in 1 MiB reads (one more than allowed tells the caller it was too much)."""
    chunks: list[bytes] = []
    left = max_bytes + 1
    while left > 0:
        chunk = read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES, what: str = "text", ours: str | None = None) -> str:
    """A regular UTF-8 text file of at most `max_bytes` (a leading BOM is dropped); InputError otherwise.
    `what` names the expected content in the message ("a manifest", "nvidia-smi output"); `ours` as for
    `read_bytes`."""
    data = read_bytes(path, max_bytes=max_bytes, ours=ours)
    if b"\x00" in data[:4096]:
        raise InputError(f"{path}: binary file, not {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}), not {what}") from None


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return f"cannot read ({exc.strerror or exc})"


def _human(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"
