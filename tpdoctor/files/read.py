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
from pathlib import Path
from typing import BinaryIO

from tpdoctor.model.errors import InputError

MAX_BYTES = 64 * 1024 * 1024  # captures and manifests are kilobytes; a fleet report a few MiB

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path: str | Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; InputError otherwise."""
    p = str(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(p):
            raise InputError(f"{p}: a dangling symbolic link (its target {os.readlink(p)} does not exist)") from None
        raise InputError(f"{p}: {_why(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise InputError(f"{p}: is {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise InputError(f"{p}: {st.st_size} bytes, more than the {_human(max_bytes)} an input may have")
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise InputError(f"{p}: grew past {_human(max_bytes)} while being read")
        return data
    except OSError as exc:
        raise InputError(f"{p}: {_why(exc)}") from None
    finally:
        os.close(fd)


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES, what: str = "text") -> str:
    """A regular UTF-8 text file of at most `max_bytes` (a leading BOM is dropped); InputError otherwise.
    `what` names the expected content in the message ("a manifest", "nvidia-smi output")."""
    return _text(read_bytes(path, max_bytes=max_bytes), str(path), "binary file", what)


def _text(data: bytes, name: str, binary: str, what: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: {binary}, not {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}), not {what}") from None


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


def read_stdin(stream: BinaryIO | None = None, *, max_bytes: int = MAX_BYTES, what: str = "text") -> str:
    """Standard input (`-` for a path) as UTF-8 text, bounded like a file: `helm template … | tpdoctor … -`."""
    src = stream if stream is not None else sys.stdin.buffer
    data = src.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"<stdin>: more than the {_human(max_bytes)} an input may have")
    return _text(data, "<stdin>", "binary data", what)
