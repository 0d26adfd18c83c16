"""cli.main is the one exception boundary: a TpdError is one line and its hint, an unexpected exception is
one line that names it as a bug and says where to report it, both exit 3 (never 1); --debug adds the
traceback."""

from __future__ import annotations

import click
import pytest

from tpdoctor import cli
from tpdoctor.model.errors import ProbeError


class Raise:
    """What the `boom` command raises; each test sets it."""

    error: BaseException = ZeroDivisionError("division by zero")


@click.command("boom")
def BOOM() -> None:  # noqa: N802 - a click command found by name through cli.COMMANDS
    raise Raise.error


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> type[Raise]:
    """`tpdoctor boom` registered like any command, raising `Raise.error`."""
    monkeypatch.setitem(cli.COMMANDS, "boom", f"{__name__}:BOOM")
    monkeypatch.setattr(Raise, "error", ZeroDivisionError("division by zero"))
    return Raise


def test_an_unexpected_exception_is_one_line_and_exit_3(failing: type[Raise],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["boom"]) == 3
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == "tpdoctor: internal error: ZeroDivisionError: division by zero"
    assert lines[1].startswith("  hint: this is a bug in tpdoctor; please report it") and "--debug" in lines[1]
    assert len(lines) == 2 and "Traceback" not in err and out == ""


def test_debug_adds_the_traceback_and_still_exits_3(failing: type[Raise], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--debug", "boom"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
    assert "tpdoctor: internal error: ZeroDivisionError: division by zero" in err


@pytest.mark.parametrize("error", [MemoryError(), RecursionError("maximum recursion depth exceeded"),
                                   OSError(28, "No space left on device"), KeyError("x" * 1000)])
def test_any_exception_class_ends_the_same_way(failing: type[Raise], error: BaseException,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    failing.error = error
    assert cli.main(["boom"]) == 3
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"tpdoctor: internal error: {type(error).__name__}") and len(first) < 260


def test_a_tpd_error_is_its_message_and_hint(failing: type[Raise], capsys: pytest.CaptureFixture[str]) -> None:
    failing.error = ProbeError("nvidia-smi topo -m timed out after 2 s", hint="check dmesg")
    assert cli.main(["boom"]) == 3
    assert capsys.readouterr().err.splitlines() == ["tpdoctor: error: nvidia-smi topo -m timed out after 2 s",
                                                    "  hint: check dmesg"]
