"""Shared helpers for the bench tests: real gloo ranks on this machine, small sizes, short deadlines; two
"nodes" of a multi-node benchmark on loopback; finding every process a command started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.bench.backend import torch_available
from tpdoctor.bench.launch import free_port
from tpdoctor.bench.procs import tagged
from tpdoctor.model.contract import render
from tpdoctor.model.findings import Report
from tpdoctor.model.topology import Gpu, Topology

requires_torch = pytest.mark.skipif(not torch_available(),
                                    reason="torch is not installed (pip install torch==2.13.0)")

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("node-a", "node-b")
MARK_VARIABLE = "TPDOCTOR_TEST_MARK"
HOOKS = ROOT / "tests" / "bench" / "hooks"  # a test-only sitecustomize (see its docstring)


def stuck_env(rank: int, group: list[int], after: int, flag: Path | None = None) -> dict[str, str]:
    """The environment that makes `rank` of `group` stop answering after `after` sizes (creating `flag`),
    through the test-only hook in tests/bench/hooks/ (nothing in tpdoctor knows about it)."""
    spec: dict[str, Any] = {"rank": rank, "group": group, "after": after}
    if flag is not None:
        spec["file"] = str(flag)
    return {"TPDOCTOR_BENCH_TEST_HANG": json.dumps(spec), "PYTHONPATH": f"{HOOKS}{os.pathsep}{ROOT}"}


def marked(mark: str) -> list[int]:
    """Live processes started (directly or not) by a command given TPDOCTOR_TEST_MARK=mark."""
    return tagged(mark, variable=MARK_VARIABLE)


def kill_marked(mark: str) -> None:
    for pid in marked(mark):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Nodes:
    """`tpdoctor bench --nnodes 2` for node-a and node-b on loopback, each with its own scan report."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.mark = uuid.uuid4().hex
        self.endpoint = f"127.0.0.1:{free_port()}"
        self.args = args
        self.tmp = tmp
        self.procs: dict[int, subprocess.Popen[str]] = {}
        for host in HOSTS:
            # a stand-in that names the node, not a probe (source "bench": no topology check is claimed)
            topo = Topology(host=host, source="bench", captured_at="2026-11-21T12:00:00Z",
                            gpus=(Gpu(index=0, name="cpu"), Gpu(index=1, name="cpu")))
            (tmp / f"{host}-scan.json").write_text(render(Report(topology=topo)))

    def start(self, side: int, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "tpdoctor", "bench", "--nnodes", "2", "--node-rank", str(side),
               "--rdzv-endpoint", self.endpoint, "--backend", "gloo", "--from",
               str(self.tmp / f"{HOSTS[side]}-scan.json"), "--json", *self.args]
        # each simulated node is its scan's host (bench --from refuses a capture of another host)
        full = {**os.environ, "PYTHONPATH": str(ROOT), "TPDOCTOR_HOST": HOSTS[side], MARK_VARIABLE: self.mark,
                **(env or {})}
        self.procs[side] = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, start_new_session=True)
        return self.procs[side]

    def finish(self, timeout: float = 120) -> dict[int, tuple[int, dict[str, Any], str]]:
        out = {}
        try:
            for side, p in self.procs.items():
                stdout, stderr = p.communicate(timeout=timeout)
                out[side] = (p.returncode, json.loads(stdout) if stdout.strip() else {}, stderr)
        finally:  # on a failed test: torchrun's workers run in sessions of their own, reach them by mark
            for p in self.procs.values():
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            if len(out) < len(self.procs):
                kill_marked(self.mark)
        return out

    def leftovers(self) -> list[int]:
        deadline = time.monotonic() + 3  # a SIGKILLed process needs a moment to leave /proc
        while marked(self.mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        return marked(self.mark)
