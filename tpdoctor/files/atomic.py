"""Files that other programs read while we write them: temp file in the same directory, fsync, rename.

Every file tpdoctor writes (the baseline, `.prom` metrics, NFD labels, a fixed manifest, benchmark
results) goes through `write_atomic`:
- the temporary file is made with O_EXCL and O_NOFOLLOW under a random name in the target's own
  directory (`tempfile.mkstemp`), so nothing another user planted there is opened, followed or truncated;
  it is filled, fsynced, given its mode and owner, then renamed over the target (readers see the old
  file or the new one, never half), and the directory is fsynced;
- a file that is replaced keeps its mode, owner and group (a 0600 manifest holding a token stays 0600;
  `like` makes a new file no more readable than the file it came from); when this user cannot keep the
  owner (not root, someone else's file), the write is refused rather than silently taking the file over;
- a symlink at the target is replaced by the file, never followed, unless the caller asks to `follow` it
  (`--fix` on a symlinked manifest fixes the file it points to: `owned.follow` says when that is refused);
- anything else at the target (a directory, a FIFO, a device) is refused.

No directory is ever created here: a missing one is refused with one line (`OutputError`). A typo in
`--prometheus /var/lib/node_exporter/textfile_colector/x.prom` would otherwise create a directory that
node_exporter never reads, and the metrics would go quietly stale; creating it is the installer's job
(systemd `StateDirectory=`, a Kubernetes `hostPath` of type `DirectoryOrCreate`, `install -d`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tpdoctor.files.owned import follow as follow_link
from tpdoctor.files.owned import kind, user
from tpdoctor.model.errors import OutputError


def require_directory(path: Path, what: str = "file") -> None:
    """OutputError unless the directory `path` goes into exists (see the module docstring)."""
    parent = Path(path).parent
    if not parent.is_dir():
        state = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(f"{path}: cannot write the {what}: directory {parent} {state}",
                          hint=f"create it first (install -d {parent}); tpdoctor creates no directories")


def distinct_names(paths: Sequence[Path], folder: Path, option: str) -> None:
    """Several inputs written into `folder` by their file names (`--fix OUT`): two with one name would
    overwrite each other, so that is refused before anything is written."""
    seen: dict[str, Path] = {}
    for path in paths:
        if path.name in seen:
            raise OutputError(f"{option} {folder}: {seen[path.name]} and {path} would both be written as "
                              f"{folder / path.name}; nothing was written",
                              hint=f"write them in separate runs (one {option} each), or rename one")
        seen[path.name] = path


def _target(path: Path, what: str, follow: bool) -> tuple[Path, os.stat_result | None]:
    """Where the text goes and the file it replaces (None: a new file, or a symlink that is replaced)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path, None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        if not follow:
            return path, None
        real = follow_link(path, what, error=OutputError)
        return real, os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: cannot write the {what}: it is {kind(st.st_mode)}, not a regular file")
    return path, st


def _ownership(path: Path, old: os.stat_result | None, mode: int, like: os.stat_result | None,
               what: str) -> tuple[int, int | None, int | None]:
    """(mode, uid, gid) of the new file: the replaced file's, never looser than `like`'s."""
    if old is not None:
        mode = stat.S_IMODE(old.st_mode)
    if like is not None:
        mode = mode & stat.S_IMODE(like.st_mode) if old is not None else stat.S_IMODE(like.st_mode)
    if old is None or (old.st_uid, old.st_gid) == (os.geteuid(), os.getegid()):
        return mode, None, None
    if os.geteuid() != 0 and old.st_uid != os.geteuid():
        raise OutputError(f"{path}: cannot write the {what}: it belongs to {user(old.st_uid)}, and this user "
                          "cannot give the new file back to its owner", hint="run as that user, or as root")
    return mode, old.st_uid, old.st_gid


def write_atomic(path: Path, text: str, mode: int = 0o644, *, what: str = "file", like: Path | None = None,
                 follow: bool = False) -> Path:
    """Replace `path` with `text` (see the module docstring); returns the path written (the symlink's
    target when `follow`). An OutputError (one line naming the path) when it cannot be written."""
    path = Path(path)
    require_directory(path, what)
    target, old = _target(path, what, follow)
    like_st = os.stat(like) if like is not None else None
    final_mode, uid, gid = _ownership(target, old, mode, like_st, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}",
                          hint=f"check that {target.parent} is writable by this user") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            if uid is not None and gid is not None:
                os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), final_mode)
        os.replace(tmp, target)
        _sync_directory(target.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None
        raise
    return target


def _sync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def private_directory(prefix: str) -> Path:
    """A new directory only this user can enter (mode 0700, `tempfile.mkdtemp`), for files that processes
    of one run hand each other (the benchmark's result file): no other user can plant a name in it."""
    try:
        return Path(tempfile.mkdtemp(prefix=prefix))
    except OSError as exc:
        raise OutputError(f"cannot make a private temporary directory: {exc.strerror or exc}",
                          hint="check $TMPDIR (or /tmp): it must exist and be writable") from None
