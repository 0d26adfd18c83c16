"""Files that other programs read while we write them: temp file in the same directory, fsync, rename.
Plus an advisory lock (fcntl) so two overlapping cron runs take turns on the same state file.

No directory is ever created here: a missing one is refused with one line (`OutputError`). A typo in
`--prometheus /var/lib/node_exporter/textfile_colector/x.prom` would otherwise create a directory that
node_exporter never reads, and the metrics would go quietly stale; creating it is the installer's job
(systemd `StateDirectory=`, a Kubernetes `hostPath` of type `DirectoryOrCreate`, `install -d`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tpdoctor.model.errors import OutputError, TpdError


def require_directory(path: Path, what: str = "file") -> None:
    """OutputError unless the directory `path` goes into exists (see the module docstring)."""
    parent = Path(path).parent
    if not parent.is_dir():
        kind = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(f"{path}: cannot write the {what}: directory {parent} {kind}",
                          hint=f"create it first (install -d {parent}); tpdoctor creates no directories")


def write_atomic(path: Path, text: str, mode: int = 0o644, *, what: str = "file") -> None:
    """Replace `path` with `text` in one rename: readers see the old file or the new one, never half.
    An OutputError (one line naming the path) when it cannot be written; nothing half-written is left."""
    path = Path(path)
    require_directory(path, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}",
                          hint=f"check that {path.parent} is writable by this user") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None
        raise


@contextlib.contextmanager
def locked(path: Path, timeout_seconds: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold an exclusive lock on `<path>.lock` (a side file, since `path` itself is renamed over)."""
    lock_path = Path(f"{path}.lock")
    require_directory(lock_path, "lock file")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OutputError(f"{lock_path}: cannot open the lock file: {exc.strerror or exc}",
                          hint=f"the baseline's directory {lock_path.parent} must be writable by this user") from None
    try:
        deadline = clock() + timeout_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise TpdError(f"{lock_path}: still locked by another tpdoctor run after {timeout_seconds:g} s",
                                   hint="a previous run may hang; check for stuck tpdoctor processes") from None
                sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
