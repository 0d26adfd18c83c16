"""No test hook is left in the package, and the benchmark's files are private (issue 19): the hang the
watchdog and orphan tests need is injected from tests/bench/hooks/ (a sitecustomize on the test's
PYTHONPATH), so no variable of the environment makes a production rank create a file or stop answering."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_test_hook_in_the_package() -> None:
    for path in (ROOT / "tpdoctor").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "TEST_HANG" not in text and "test hook" not in text.lower(), path


def test_the_hook_lives_with_the_tests() -> None:
    hook = (ROOT / "tests" / "bench" / "hooks" / "sitecustomize.py").read_text(encoding="utf-8")
    assert "TPDOCTOR_BENCH_TEST_HANG" in hook and "_run_module_as_main" in hook


def test_the_multi_node_results_file_lives_in_a_private_directory() -> None:
    """Not `{random}.tmp.{pid}` in /tmp, opened with open("w"): a 0700 directory of ours, a 0600 file made
    with O_EXCL and renamed; a symlink planted at its name (were the directory reachable) is replaced, not
    followed."""
    import os
    import shutil
    import stat

    from tpdoctor.bench.torchrun import result_path
    from tpdoctor.files.atomic import write_atomic

    private, out = result_path()
    try:
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o700 and Path(out).parent == private
        victim = private / "victim"
        victim.write_text("keep")
        Path(out).symlink_to(victim)
        write_atomic(Path(out), "[]\n", 0o600, what="benchmark results")  # what the worker does
        assert victim.read_text() == "keep" and not Path(out).is_symlink()
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    finally:
        shutil.rmtree(private)
