"""Outputs: written whole or not at all, never into a directory tpdoctor made up, and every failure is one
OutputError naming the path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tpdoctor.files.atomic import write_atomic
from tpdoctor.files.lock import locked
from tpdoctor.model.errors import OutputError


def unwritable(tmp_path: Path) -> Path:
    """A directory this user cannot create files in (root can, except in sysfs)."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "m.prom"
    write_atomic(target, "a\n")
    write_atomic(target, "b\n")
    assert target.read_text() == "b\n" and [p.name for p in tmp_path.iterdir()] == ["m.prom"]


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    target = tmp_path / "textfile_colector" / "m.prom"
    with pytest.raises(OutputError, match=r"m\.prom: cannot write the metrics: directory .*textfile_colector does "
                                          r"not exist") as info:
        write_atomic(target, "x", what="metrics")
    assert "install -d" in (info.value.hint or "")
    assert not target.parent.exists()


def test_a_file_where_the_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    with pytest.raises(OutputError, match="directory .*plain is not a directory"):
        write_atomic(tmp_path / "plain" / "m.prom", "x")


def test_an_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"m\.prom: cannot write the file: Permission denied"):
        write_atomic(unwritable(tmp_path) / "m.prom", "x")


def test_a_directory_in_the_way_of_the_file_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "m.prom").mkdir()
    with pytest.raises(OutputError, match=r"m\.prom: cannot write the file: it is a directory, not a regular file"):
        write_atomic(tmp_path / "m.prom", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]


def test_a_lock_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"baseline\.json\.lock: cannot open the lock file: Permission denied"), \
            locked(unwritable(tmp_path) / "baseline.json"):
        pass
    with pytest.raises(OutputError, match=r"lock file: directory .*nowhere does not exist"), \
            locked(tmp_path / "nowhere" / "baseline.json"):
        pass
