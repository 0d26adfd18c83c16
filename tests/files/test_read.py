"""The bounded reader and the YAML expansion check refuse what could hang or exhaust a run, in one line."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from tpdoctor.files.read import read_bytes, read_text
from tpdoctor.files.yamlsafe import MAX_NODES, check_expansion
from tpdoctor.model.errors import InputError

BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg"))


@pytest.mark.parametrize("make,reason", [
    (lambda d: d / "missing", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: Path("/dev/zero"), "is a character device"),
])
def test_not_a_regular_file_is_refused(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=reason):
        read_bytes(make(tmp_path))


def test_fifo_and_device_symlink_never_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    done: list[str] = []

    def attempt() -> None:
        for p in (fifo, link):
            try:
                read_bytes(p)
            except InputError as exc:
                done.append(str(exc))

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    assert len(done) == 2, "a FIFO with no writer or /dev/zero behind a symlink blocked the reader"
    assert "FIFO" in done[0] and "character device" in done[1]


def test_size_cap_and_text_checks(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1025)
    with pytest.raises(InputError, match="1025 bytes, more than the 1024 bytes"):
        read_bytes(big, max_bytes=1024)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"{\x00\x01")
    with pytest.raises(InputError, match="binary file, not a report"):
        read_text(binary, what="a report")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8 text \(byte 3\)"):
        read_text(latin)
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffGPU0".encode())
    assert read_text(bom) == "GPU0"


def test_alias_bomb_and_recursive_alias_are_refused_before_expansion() -> None:
    with pytest.raises(InputError, match=f"more than {MAX_NODES:,} nodes"):
        check_expansion(yaml.compose(BOMB, Loader=yaml.SafeLoader), "bomb.yaml")
    with pytest.raises(InputError, match="rec.yaml:1: recursive YAML alias"):
        check_expansion(yaml.compose("a: &a\n  b: *a\n", Loader=yaml.SafeLoader), "rec.yaml")
    check_expansion(yaml.compose("x: &x {a: 1}\ny: *x\nz: [*x, *x]\n", Loader=yaml.SafeLoader), "ok.yaml")


def test_deep_nesting_is_refused() -> None:
    deep = "[" * 300 + "]" * 300
    with pytest.raises(InputError, match="nested deeper than"):
        check_expansion(yaml.compose(deep, Loader=yaml.SafeLoader), "deep.yaml")


def test_a_dangling_symlink_says_so(tmp_path: Path) -> None:
    (tmp_path / "rule.yaml").symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(InputError, match=r"rule\.yaml: a dangling symbolic link \(its target .*gone\.yaml does not"):
        read_bytes(tmp_path / "rule.yaml")


def test_a_text_without_anchors_skips_the_walk_but_a_bomb_never_does() -> None:
    plain = "a: [1, 2, {b: c}]\n"
    check_expansion(yaml.compose(plain, Loader=yaml.SafeLoader), "plain.yaml", plain)
    with pytest.raises(InputError, match="more than"):
        check_expansion(yaml.compose(BOMB, Loader=yaml.SafeLoader), "bomb.yaml", BOMB)
