"""Shared test helpers: run the real CLI in a subprocess, with the fake nvidia-smi on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKESMI_BIN = ROOT / "tests" / "fakesmi"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
FIXTURES = ROOT / "fixtures"

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _node_view(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process checks see the whole node unless a test says otherwise (a CI container may set
    NVIDIA_VISIBLE_DEVICES); the hardware tests keep the machine's own view."""
    if "gpu" not in request.keywords and "multi_gpu" not in request.keywords:
        monkeypatch.delenv("NVIDIA_VISIBLE_DEVICES", raising=False)


def cli_env(extra: Mapping[str, str] | None = None, *, path: str | None = None) -> dict[str, str]:
    # a container's NVIDIA_VISIBLE_DEVICES would make every live check a partial view (TPD143): tests set it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_", "NVIDIA_VISIBLE"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = path if path is not None else f"{FAKESMI_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin"
    env["COLUMNS"] = "100"
    env.update(extra or {})
    return env


@pytest.fixture
def run_cli() -> RunCli:
    """`run_cli("scan", "--json", env={...}, path=...)`: `python -m tpdoctor ...` as a user would run it."""

    def run(*args: str, env: Mapping[str, str] | None = None, path: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tpdoctor", *args], cwd=ROOT, env=cli_env(env, path=path),
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run


@pytest.fixture
def fakesmi_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Environment for the fake nvidia-smi: replay `directory` (default: the bundled example)."""

    def make(mode: str = "ok", directory: Path = EXAMPLE, match: str | None = None) -> dict[str, str]:
        env = {"FAKESMI_DIR": str(directory), "FAKESMI_MODE": mode,
               "FAKESMI_PIDFILE": str(tmp_path / "fakesmi.pids"), "FAKESMI_LOG": str(tmp_path / "fakesmi.log")}
        if match is not None:
            env["FAKESMI_MATCH"] = match
        return env

    return make
