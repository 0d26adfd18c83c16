"""Hardware tests (`gpu`, `multi_gpu`): deselected by default (pyproject addopts), run on a GPU machine by
`scripts/gpu-check.sh`. A test needing more GPUs than the machine has is skipped with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def gpu_count() -> int:
    import pynvml

    pynvml.nvmlInit()
    try:
        return int(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()


@pytest.fixture
def need_gpus(gpu_count: int):  # type: ignore[no-untyped-def]
    def need(n: int) -> int:
        if gpu_count < n:
            pytest.skip(f"needs {n} GPUs, this machine has {gpu_count}")
        return gpu_count

    return need


@pytest.fixture(scope="session")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where raw captures of this machine go: $TPD_GPU_CHECK_OUT (the kit's folder), else a temp dir."""
    out = os.environ.get("TPD_GPU_CHECK_OUT")
    path = Path(out) if out else tmp_path_factory.mktemp("captures")
    path.mkdir(parents=True, exist_ok=True)
    return path
