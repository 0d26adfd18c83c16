"""The subprocess runner: output, missing binary, non-zero exit, timeout killing the process group."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tpdoctor.bench.procs import is_alive  # /proc: a zombie counts as dead
from tpdoctor.model.errors import ProbeError
from tpdoctor.probes.runner import CommandFailed, run


def test_captures_stdout_and_stderr() -> None:
    result = run(["sh", "-c", "echo out; echo err >&2"], timeout_seconds=10)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.returncode == 0
    assert result.command == "sh -c 'echo out; echo err >&2'"


def test_missing_binary_is_a_probe_error_naming_it() -> None:
    with pytest.raises(ProbeError) as info:
        run(["tpdoctor-no-such-binary", "topo", "-m"], timeout_seconds=5)
    assert "tpdoctor-no-such-binary not found" in info.value.message
    assert info.value.hint


def test_nonzero_exit_keeps_output_and_names_command() -> None:
    with pytest.raises(CommandFailed) as info:
        run(["sh", "-c", "echo 'Failed to initialize NVML: Unknown Error'; exit 255"], timeout_seconds=5)
    err = info.value
    assert err.returncode == 255
    assert "exited with status 255: Failed to initialize NVML: Unknown Error" in err.message
    assert "\n" not in err.message
    assert err.stdout.startswith("Failed to initialize NVML")




def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait"
    started = time.monotonic()
    with pytest.raises(ProbeError) as info:
        run(["sh", "-c", script], timeout_seconds=0.5)
    assert time.monotonic() - started < 5
    assert "timed out after 0.5 s" in info.value.message
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    deadline = time.monotonic() + 5
    while any(is_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(is_alive(p) for p in children), "the grandchild `sleep` outlived the timeout"


def _kill_all(pids: list[int]) -> None:
    import os
    import signal

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_daemonised_grandchild_holding_stdout_cannot_hold_the_call_past_its_deadline(tmp_path: Path) -> None:
    # the grandchild calls setsid, so the group kill misses it and it keeps the stdout pipe open
    pids = tmp_path / "pids"
    script = f"setsid sleep 300 & echo $! > {pids}; sleep 300"
    started = time.monotonic()
    try:
        with pytest.raises(ProbeError) as info:
            run(["sh", "-c", script], timeout_seconds=1)
        assert time.monotonic() - started < 4
        assert "timed out after 1 s" in info.value.message
    finally:
        _kill_all([int(p) for p in pids.read_text().split()])


def test_output_of_a_command_that_exited_is_complete_though_a_daemon_still_holds_the_pipe(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"setsid sleep 300 & echo $! > {pids}; seq 1 20000; echo done >&2"
    started = time.monotonic()
    try:
        result = run(["sh", "-c", script], timeout_seconds=20)
        assert time.monotonic() - started < 10  # not the 20 s deadline
        assert result.stdout.splitlines() == [str(i) for i in range(1, 20001)]  # > one pipe buffer
        assert result.stderr == "done\n"
    finally:
        _kill_all([int(p) for p in pids.read_text().split()])


def test_a_stray_of_its_group_holding_stdout_after_the_command_exited_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    result = run(["sh", "-c", f"sleep 300 & echo $! > {pids}; echo out"], timeout_seconds=20)
    assert result.stdout == "out\n" and time.monotonic() - started < 10
    stray = int(pids.read_text())
    deadline = time.monotonic() + 5
    while is_alive(stray) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(stray), "the background `sleep` of the command's group outlived it"
