"""How much of the node a live check sees, from its environment (model/view.py judges with it).

`NVIDIA_VISIBLE_DEVICES` is how the NVIDIA container runtime gives a container its GPUs (Docker `--gpus`, the
Kubernetes device plugin's envvar strategy): a list of indices or UUIDs, or `all`, `none`, `void`. Anything but
`all` (or unset) is a subset: NVML and nvidia-smi inside see only those GPUs. `CUDA_VISIBLE_DEVICES` does not
restrict NVML or nvidia-smi (they read every GPU), only CUDA and so the benchmark; it is noted, not a subset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tpdoctor.model.health import View


def detect_view(environ: Mapping[str, str] = os.environ) -> tuple[View, tuple[str, ...]]:
    """The view of a live check, and notes about it."""
    notes: tuple[str, ...] = ()
    cuda = environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None:
        notes = (f"CUDA_VISIBLE_DEVICES={cuda} restricts CUDA (and `--bench`) to those GPUs; NVML and nvidia-smi "
                 "read every GPU of the node",)
    raw = environ.get("NVIDIA_VISIBLE_DEVICES")
    value = (raw or "").strip()
    if raw is None or value.lower() in ("", "all"):
        return View("node", "NVIDIA_VISIBLE_DEVICES=all" if raw is not None else "the node's GPUs"), notes
    if value.lower() in ("none", "void"):
        return View("subset", f"NVIDIA_VISIBLE_DEVICES={value}: no GPU given to this container"), notes
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return View("subset", f"NVIDIA_VISIBLE_DEVICES={value}: a container given {len(names)} GPU(s)", names), notes
