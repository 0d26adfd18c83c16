"""State files as root opens them (issue 19): the lock, the baseline, replaced outputs. Rows that need a
second user make the file `nobody`'s (uid 65534) and run only as root."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from tpdoctor.files.atomic import distinct_names, private_directory, write_atomic
from tpdoctor.files.lock import locked
from tpdoctor.files.read import read_text
from tpdoctor.model.errors import InputError, OutputError
from tpdoctor.probes.runner import executable

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="makes a file another user's: needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_lock_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with locked(tmp_path / "baseline.json"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "baseline.json.lock") == 0o600


def test_a_lock_symlink_is_refused_and_its_target_never_created(tmp_path: Path) -> None:
    (tmp_path / "baseline.json.lock").symlink_to(tmp_path / "nologin")
    with pytest.raises(OutputError, match=r"baseline\.json\.lock: the lock file is a symbolic link"), \
            locked(tmp_path / "baseline.json"):
        pass
    assert not (tmp_path / "nologin").exists()


def test_a_lock_with_two_links_or_a_fifo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").write_text("")
    (tmp_path / "other").chmod(0o600)
    os.link(tmp_path / "other", tmp_path / "baseline.json.lock")
    with pytest.raises(OutputError, match="has 2 hard links"), locked(tmp_path / "baseline.json"):
        pass
    os.mkfifo(tmp_path / "b.json.lock")
    with pytest.raises(OutputError, match=r"b\.json\.lock: the lock file is a FIFO"), locked(tmp_path / "b.json"):
        pass


def test_a_legacy_0644_lock_held_through_another_descriptor_is_replaced(tmp_path: Path) -> None:
    lock = tmp_path / "baseline.json.lock"
    lock.write_text("")
    lock.chmod(0o644)
    fd = os.open(lock, os.O_RDONLY)  # what any local user could do with a 0644 file
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with locked(tmp_path / "baseline.json", timeout_seconds=1):
            assert _mode(lock) == 0o600
    finally:
        os.close(fd)


@as_root
def test_a_lock_of_another_user_is_refused_at_once(tmp_path: Path) -> None:
    lock = tmp_path / "baseline.json.lock"
    lock.write_text("")
    lock.chmod(0o600)
    os.chown(lock, NOBODY, NOBODY)
    with pytest.raises(OutputError, match=r"belongs to uid 65534 \(nobody\), not to uid 0 \(root\)"), \
            locked(tmp_path / "baseline.json", timeout_seconds=30):
        pass


def test_the_baseline_is_read_only_from_a_file_of_ours(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    assert read_text(real, ours="baseline") == "{}"
    with pytest.raises(InputError, match=r"link\.json: the baseline is a symbolic link"):
        read_text(tmp_path / "link.json", ours="baseline")
    real.chmod(0o664)
    with pytest.raises(InputError, match=r"real\.json: the baseline is writable by its group \(mode 0664\)"):
        read_text(real, ours="baseline")
    assert read_text(tmp_path / "link.json") == "{}"  # an input of someone else's (a manifest) may be a link


@as_root
def test_a_baseline_of_another_user_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "baseline.json"
    real.write_text("{}")
    os.chown(real, NOBODY, NOBODY)
    with pytest.raises(InputError, match=r"the baseline belongs to uid 65534 \(nobody\)"):
        read_text(real, ours="baseline")


def test_a_replaced_file_keeps_its_mode_and_a_new_one_takes_its_sources(tmp_path: Path) -> None:
    target = tmp_path / "job.yaml"
    target.write_text("a\n")
    target.chmod(0o600)
    write_atomic(target, "b\n")
    assert _mode(target) == 0o600 and target.read_text() == "b\n"
    out = tmp_path / "fixed.yaml"
    write_atomic(out, "c\n", like=target)
    assert _mode(out) == 0o600
    (tmp_path / "loose.yaml").write_text("")
    (tmp_path / "loose.yaml").chmod(0o644)
    write_atomic(tmp_path / "loose.yaml", "d\n", like=target)  # never looser than the source
    assert _mode(tmp_path / "loose.yaml") == 0o600


@as_root
def test_a_replaced_file_keeps_its_owner(tmp_path: Path) -> None:
    target = tmp_path / "job.yaml"
    target.write_text("a\n")
    os.chown(target, NOBODY, NOBODY)
    write_atomic(target, "b\n")
    assert (os.stat(target).st_uid, os.stat(target).st_gid) == (NOBODY, NOBODY)


def test_symlinks_replaced_or_followed_as_asked(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "job.yaml"
    real.write_text("a\n")
    link = tmp_path / "job.yaml"
    link.symlink_to(real)
    assert write_atomic(link, "b\n", follow=True) == real
    assert link.is_symlink() and real.read_text() == "b\n"
    write_atomic(link, "c\n")  # a state file: the link itself is replaced, its target left alone
    assert not link.is_symlink() and real.read_text() == "b\n" and link.read_text() == "c\n"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputError, match="it is a FIFO"):
        write_atomic(tmp_path / "fifo", "x")


@as_root
def test_another_users_link_does_not_steer_a_write(tmp_path: Path) -> None:
    victim = tmp_path / "root-owned.yaml"
    victim.write_text("keep\n")
    link = tmp_path / "job.yaml"
    link.symlink_to(victim)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(OutputError, match=r"a symbolic link owned by uid 65534 \(nobody\) to .*root-owned\.yaml"):
        write_atomic(link, "changed\n", follow=True)
    assert victim.read_text() == "keep\n"


def test_two_inputs_with_one_name_are_refused() -> None:
    distinct_names([Path("a/job.yaml"), Path("b/other.yaml")], Path("out"), "--fix")
    with pytest.raises(OutputError, match=r"a/job\.yaml and b/job\.yaml would both be written as out/job\.yaml"):
        distinct_names([Path("a/job.yaml"), Path("b/job.yaml")], Path("out"), "--fix")


def test_private_directory_and_path_lookup(tmp_path: Path) -> None:
    folder = private_directory("tpdoctor-test-")
    try:
        assert _mode(folder) == 0o700 and os.stat(folder).st_uid == os.geteuid()
    finally:
        folder.rmdir()
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert executable("nvidia-smi", {"PATH": f".:{os.pathsep}/nonexistent"}) is None  # never the cwd
        assert executable("nvidia-smi", {"PATH": str(tmp_path)}) == str(tool)
    finally:
        os.chdir(cwd)
