"""GPU model names as schedulers write them, compared with the GPU a node has.

A deployment file may ask for a GPU model: SkyPilot `accelerators: {H100:8, A100-80GB:8}`, dstack
`gpu: A100:40GB`, a Kubernetes nodeSelector on GPU feature discovery's `nvidia.com/gpu.product:
NVIDIA-A100-80GB-PCIe` or GKE's `cloud.google.com/gke-accelerator: nvidia-h100-80gb`. Each spelling reduces
to a family token and, when written, a memory size: "h100", "a100" + 80 GB, "rtx4090", "l40s". The node's
product name ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 NVL") reduces the same way. Two names are the same GPU
when the families are equal and no written memory size differs; a name with no family token (dstack's
`24GB..`, a variable) judges nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPLIT = re.compile(r"[\s_:/\-]+")
_FAMILY = re.compile(r"^(?:gb|gh|[abhlptvk])\d{1,4}[a-z]{0,2}$")  # h100, gb200, a10g, l40s, t4, v100, a6000
_MEMORY = re.compile(r"^(\d{2,3})gb?$")
_NOISE = {"nvidia", "tesla", "geforce", "quadro"}


@dataclass(frozen=True)
class GpuName:
    family: str  # "h100", "a100", "a6000" (RTX A6000), "rtx4090", "rtxpro6000"
    memory_gb: int | None = None  # only when the name writes it ("80GB")


def parse(name: str) -> GpuName | None:
    """The family and written memory of a GPU model name, or None when it names no family we can read."""
    tokens = [t for t in _SPLIT.split(name.strip().lower()) if t and t not in _NOISE]
    family, memory = None, None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if family is None and t == "rtx":  # "RTX 4090", "RTX PRO 6000", "RTX A6000"
            j = i + 1
            while j < len(tokens) and not any(c.isdigit() for c in tokens[j]):
                j += 1
            if j < len(tokens):
                family = "rtx" + "".join(tokens[i + 1:j + 1])
                i = j + 1
                continue
        if family is None and (_FAMILY.match(t) or t.startswith("rtx") and (t[3:].isdigit() or _FAMILY.match(t[3:]))):
            family = t
        elif memory is None and (m := _MEMORY.match(t)):
            memory = int(m.group(1))
        i += 1
    if family and family.startswith("rtx") and _FAMILY.match(family[3:]):
        family = family[3:]  # "RTX A6000" is the A6000 a scheduler names
    return GpuName(family, memory) if family else None


def same_gpu(asked: str, product: str, memory_gib: float | None = None) -> bool | None:
    """Whether the GPU model `asked` names is the node's GPU (`product`, its name; `memory_gib`, its memory):
    None when either name cannot be read. A memory size the ask writes is compared with the node's (written
    in its name, else `memory_gib`) within 10%, so "80GB" is an 80 GB part and not a 40 GB one."""
    a, p = parse(asked), parse(product)
    if a is None or p is None:
        return None
    if a.family != p.family:
        return False
    have = p.memory_gb or memory_gib
    return a.memory_gb is None or have is None or abs(a.memory_gb - have) <= 0.1 * a.memory_gb


def asked_here(asked: tuple[str, ...], product: str | None, memory_gib: float | None = None) -> bool | None:
    """Whether the node's GPU is any of the models a file asks for (alternatives: SkyPilot's `{H100:8,
    H200:8}`): True when one is, False when every one is readable and none is, None otherwise."""
    if not asked or not product:
        return None
    answers = [same_gpu(a, product, memory_gib) for a in asked]
    if any(x is True for x in answers):
        return True
    return False if answers and all(x is False for x in answers) else None


def asked_on(asked: tuple[str, ...], product: str | None, memory_mib: object = None) -> bool | None:
    """asked_here for a GPU as a topology reads it: its memory in MiB, or anything else when not read."""
    return asked_here(asked, product, memory_mib / 1024 if isinstance(memory_mib, int) else None)
