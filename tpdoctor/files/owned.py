"""Whose file is it: the checks behind every state file tpdoctor opens as root (docs/security.md).

tpdoctor runs as root from cron, systemd and a privileged DaemonSet, and keeps state in files (the
baseline and its lock; it writes metrics, NFD labels, fixed manifests, captures, benchmark results). A
file another user can create, replace or write is a file that user can steer: a symlink planted where the
lock goes makes root create the link's target (`/etc/nologin`), a lock file anyone can open can be held
forever, a baseline someone else wrote can expect a down NVLink to be down. So a state file is used only
when it is what we would have made: a regular file (never followed through a symlink), owned by this
user (the effective uid), with one link, and writable by nobody else. Each refusal is one line naming
the file, what is wrong and what to do.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from tpdoctor.model.errors import TpdError

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def user(uid: int) -> str:
    """`uid 65534 (nobody)`; the number alone when the account is unknown."""
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_ours(st: os.stat_result, path: str | Path, what: str, *, error: type[TpdError] = TpdError,
               mode: int | None = None) -> None:
    """Raise `error` unless `st` (an lstat or fstat) is a regular file owned by this user, with one link,
    writable by no one else; with `mode`, its permission bits must be exactly that."""
    me = os.geteuid()
    fix = f"remove it (rm {path}); tpdoctor makes a new one"
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: the {what} is {kind(st.st_mode)}, not a regular file", hint=fix)
    if st.st_uid != me:
        raise error(f"{path}: the {what} belongs to {user(st.st_uid)}, not to {user(me)} who runs tpdoctor",
                    hint=f"another user made it: {fix}")
    if st.st_nlink != 1:
        raise error(f"{path}: the {what} has {st.st_nlink} hard links (another name could change it)", hint=fix)
    bits = stat.S_IMODE(st.st_mode)
    if mode is not None and bits != mode:
        raise error(f"{path}: the {what} has mode {bits:04o}, not {mode:04o}", hint=fix)
    if bits & 0o022:
        raise error(f"{path}: the {what} is writable by {'others' if bits & 0o002 else 'its group'} "
                    f"(mode {bits:04o})", hint=f"chmod go-w {path}, or {fix}")


def check_directory(path: str | Path, what: str, *, error: type[TpdError] = TpdError) -> None:
    """Raise `error` unless `path` (a folder or a file, followed: as given) is owned by this user or root
    and writable by nobody else; `--rules DIR` holds what decides a verdict."""
    st = os.stat(path)
    me = os.geteuid()
    bits = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (me, 0):
        raise error(f"{path}: the {what} belongs to {user(st.st_uid)}, not to {user(me)}{' or root' if me else ''}",
                    hint="keep site rules in a folder that only you (or root) own and can write")
    if bits & 0o022:
        raise error(f"{path}: the {what} is writable by {'others' if bits & 0o002 else 'its group'} "
                    f"(mode {bits:04o}): anyone there could add or change a rule", hint=f"chmod go-w {path}")


def follow(path: Path, what: str, *, error: type[TpdError] = TpdError) -> Path:
    """The file a symlink `path` points to, for a file the user names to be changed in place (a manifest
    for `--fix`): fixed where it lives, the link kept. Refused when the target is missing or not a regular
    file, or when the link's owner is neither this user nor the target's owner (the rule Linux applies in
    sticky directories, fs.protected_symlinks: another user's link must not steer our write)."""
    link = os.lstat(path)
    real = Path(os.path.realpath(path))
    try:
        target = os.stat(real)
    except FileNotFoundError:
        raise error(f"{path}: the {what} is a symbolic link to {real}, which does not exist") from None
    if not stat.S_ISREG(target.st_mode):
        raise error(f"{path}: the {what} is a symbolic link to {real}, {kind(target.st_mode)}")
    if link.st_uid not in (os.geteuid(), target.st_uid):
        raise error(f"{path}: the {what} is a symbolic link owned by {user(link.st_uid)} to {real}, owned by "
                    f"{user(target.st_uid)}; tpdoctor does not write through another user's link",
                    hint=f"name the file itself: {real}")
    return real
