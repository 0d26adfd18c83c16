"""No test hook is left in the package (issue 19): the hang that the watchdog and orphan tests need is
injected from tests/bench/hooks/ (a sitecustomize on the test's PYTHONPATH), and no variable of the
environment makes a production rank create a file or stop answering."""

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
