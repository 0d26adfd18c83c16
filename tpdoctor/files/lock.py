"""The advisory lock that makes two overlapping `health --baseline` runs take turns (`<baseline>.lock`).

`flock` works on any open descriptor, even a read-only one: whoever can open the lock file can hold the
lock, and every later run would wait its timeout and end UNKNOWN, forever. So the lock file is private:
created 0600 by this user, opened without following a symlink (a planted link would make root create or
open its target), and used only when it is a regular file of ours with one link and mode 0600
(`owned.check_ours`). A lock file of ours with another mode (0644, as earlier versions made them) is
replaced once by a fresh 0600 one, so a descriptor someone opened on the old one holds nothing; after
taking the lock, the path must still name the locked file (else it was replaced meanwhile: take the new
one). A lock file that is not ours, not a regular file or a symlink is refused in one line, at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tpdoctor.files.atomic import require_directory
from tpdoctor.files.owned import check_ours
from tpdoctor.model.errors import OutputError, TpdError

LOCK_MODE = 0o600
_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(lock: Path) -> int:
    """A descriptor on the lock file, created 0600 when missing; OutputError when it cannot be used."""
    try:
        try:
            fd = os.open(lock, _FLAGS | os.O_CREAT | os.O_EXCL, LOCK_MODE)
            os.fchmod(fd, LOCK_MODE)  # whatever the umask
            return fd
        except FileExistsError:
            return os.open(lock, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{lock}: the lock file is a symbolic link; tpdoctor never follows one there",
                              hint=f"remove it (rm {lock}); tpdoctor makes a new one") from None
        raise OutputError(f"{lock}: cannot open the lock file: {exc.strerror or exc}",
                          hint=f"the baseline's directory {lock.parent} must be writable by this user") from None


def _replace(lock: Path) -> None:
    """A fresh 0600 lock file renamed over one of ours with the wrong mode."""
    fd, tmp = tempfile.mkstemp(prefix=f".{lock.name}.", dir=lock.parent)
    try:
        os.fchmod(fd, LOCK_MODE)
        os.replace(tmp, lock)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{lock}: cannot replace the lock file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def open_lock(lock: Path) -> int:
    """Open (or make) the lock file and check it; a lock of ours with the wrong mode is replaced first."""
    for _ in range(3):
        fd = _open(lock)
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1 \
                and stat.S_IMODE(st.st_mode) != LOCK_MODE:
            os.close(fd)
            _replace(lock)
            continue
        try:
            check_ours(st, lock, "lock file", error=OutputError, mode=LOCK_MODE)
        except OutputError:
            os.close(fd)
            raise
        return fd
    raise OutputError(f"{lock}: the lock file keeps changing under tpdoctor")


def _still_named(fd: int, lock: Path) -> bool:
    try:
        st = os.stat(lock, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


@contextlib.contextmanager
def locked(path: Path, timeout_seconds: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold an exclusive lock on `<path>.lock` (a side file, since `path` itself is renamed over)."""
    lock = Path(f"{path}.lock")
    require_directory(lock, "lock file")
    deadline = clock() + timeout_seconds
    while True:
        fd = open_lock(lock)
        try:
            _wait(fd, lock, deadline, timeout_seconds, clock, sleep)
        except BaseException:
            os.close(fd)
            raise
        if _still_named(fd, lock):
            break
        os.close(fd)  # replaced while we waited: lock the file the path names now
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _wait(fd: int, lock: Path, deadline: float, timeout_seconds: float, clock: Callable[[], float],
          sleep: Callable[[float], None]) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if clock() >= deadline:
                raise TpdError(f"{lock}: still locked by another tpdoctor run after {timeout_seconds:g} s",
                               hint="a previous run may hang; check for stuck tpdoctor processes") from None
            sleep(0.05)
