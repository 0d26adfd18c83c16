"""Is PyTorch here, which backend, how many CUDA devices: the parent's only uses of torch (imported lazily,
so `scan` and `check-deployment` never load it)."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

from tpdoctor.bench.devices import ORDER_VARIABLE, PCI_BUS_ID
from tpdoctor.model.errors import BenchError

INSTALL_HINT = ("pip install torch (a CUDA build from PyPI on GPU nodes; CPU only: pip install torch --index-url "
                "https://download.pytorch.org/whl/cpu), or install tpdoctor with its extra: pip install '.[bench]'")


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch() -> None:
    if not torch_available():
        raise BenchError(f"the benchmark needs PyTorch, which is not installed: {INSTALL_HINT}")


def _torch() -> ModuleType:
    """torch, with CUDA numbering devices in PCI bus order (as the ranks do, see `devices.py`) unless the
    environment chose an order before CUDA starts."""
    require_torch()
    os.environ.setdefault(ORDER_VARIABLE, PCI_BUS_ID)
    import torch

    return torch


def resolve_backend(requested: str) -> str:
    """`auto` -> nccl when CUDA GPUs are visible, else gloo (imports torch)."""
    if requested != "auto":
        require_torch()
        return requested
    torch = _torch()
    return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > 0 else "gloo"


def cuda_device_count() -> int:
    torch = _torch()
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def cuda_device_name(ordinal: int) -> str:
    return str(_torch().cuda.get_device_name(ordinal))
