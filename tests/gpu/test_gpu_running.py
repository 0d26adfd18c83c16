"""On a real GPU machine (scripts/gpu-check.sh): a real CUDA process that holds GPU0 is found by the live
path — NVML's compute-process table and nvidia-smi's — read from /proc, grouped and judged. The process is
started as a vLLM API server would be (`python -m vllm.entrypoints.openai.api_server --model … --tensor-parallel-size
1`, a temporary package of that name that makes a CUDA context on GPU0 and sleeps), so the group is read as a
vLLM deployment with TP=1 on GPU0. Deselected by default (marker `gpu`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import os, sys, time, torch
x = torch.ones(64 << 20, device="cuda:0")  # 256 MiB: a CUDA context and memory on GPU0
torch.cuda.synchronize()
open(os.environ["TPD_READY"], "w").write(str(os.getpid()))
time.sleep(120)
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpdoctor", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.gpu
def test_a_real_cuda_process_is_found_by_the_live_path(tmp_path: Path, captures: Path) -> None:
    pkg = tmp_path / "pkgs" / "vllm" / "entrypoints" / "openai"
    pkg.mkdir(parents=True)
    for d in (pkg, pkg.parent, pkg.parent.parent):
        (d / "__init__.py").touch()
    (pkg / "api_server.py").write_text(HOLD)
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkgs"), "TPD_READY": str(ready), "CUDA_VISIBLE_DEVICES": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
                             "Qwen/Qwen3-8B", "--tensor-parallel-size", "1"], env=env)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the CUDA process did not start"
            time.sleep(0.2)
        time.sleep(1.0)  # NVML lists a context once the driver has it
        found = {}
        for probe in ("nvml", "smi"):
            res = cli("health", "--probe", probe, "--json")
            (captures / f"running-health-{probe}.json").write_text(res.stdout)
            (captures / f"running-health-{probe}.txt").write_text(res.stderr)
            found[probe] = json.loads(res.stdout)["running"]
        apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,gpu_uuid,used_memory", "--format=csv"],
                              capture_output=True, text=True, timeout=60, check=False).stdout
        (captures / "nvidia-smi-query-compute-apps.csv").write_text(apps)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    for probe, running in found.items():
        assert any(r["pid"] == proc.pid and r["gpu"] == 0 for r in running["table"]), (probe, running["table"])
        group = next(g for g in running["groups"] if proc.pid in g["pids"])
        assert (group["engine"], group["tp"], group["gpus"], group["runtime"]) == ("vllm", 1, [0], "process"), probe
        assert group["model"] == "Qwen/Qwen3-8B" and running["hidden"] == [], probe
