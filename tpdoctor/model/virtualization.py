"""Whether a GPU runs in a virtual machine, and what that tells about its NVLink ports.

NVML's `nvmlDeviceGetVirtualizationMode` and `nvidia-smi -q` ("GPU Virtualization Mode / Virtualization
Mode") name one of five modes; `Gpu.virtualization` holds them in these words:

| NVML constant | nvidia-smi -q | here | where the GPU is |
|---|---|---|---|
| NVML_GPU_VIRTUALIZATION_MODE_NONE (0) | None | none | bare metal |
| NVML_GPU_VIRTUALIZATION_MODE_PASSTHROUGH (1) | Pass-Through | pass-through | passed through to a VM |
| NVML_GPU_VIRTUALIZATION_MODE_VGPU (2) | VGPU | vgpu | a vGPU inside a VM |
| NVML_GPU_VIRTUALIZATION_MODE_HOST_VGPU (3) | Host VGPU | host-vgpu | the hypervisor host (vGPU manager) |
| NVML_GPU_VIRTUALIZATION_MODE_HOST_VSGA (4) | Host VSGA | host-vsga | the hypervisor host (vSGA) |

A hypervisor may pass a GPU of an NVLink SKU (an SXM H100) through to a VM without its NVLinks and
NVSwitches: the guest driver then exposes no NVLink port at all (NVML NotSupported at link 0,
`nvidia-smi nvlink --status` exit 0 with no output; a real capture: fixtures/collect/h100-sxm-vm-passthrough).
That is a made observation, "no NVLink port here", only when both are true: the GPU runs in a VM and the
probe got a definite empty answer (`Gpu.nvlinks_unread` None). On bare metal, or when the mode is not
known, an NVLink SKU without ports stays "ports not read" (model/coverage.py): a false OK is the worst bug.
"""

from __future__ import annotations

import re

from tpdoctor.model import skus
from tpdoctor.model.topology import Gpu, Topology

MODES = {0: "none", 1: "pass-through", 2: "vgpu", 3: "host-vgpu", 4: "host-vsga"}  # NVML enum -> word
IN_VM = frozenset({"pass-through", "vgpu"})
_WORDS = {"pass through": "pass-through", "passthrough": "pass-through", "v gpu": "vgpu"}


def from_text(text: str) -> str:
    """nvidia-smi's spelling ("Pass-Through", "Host VGPU") -> the word used here ("pass-through", "host-vgpu")."""
    low = re.sub(r"[\s_]+", " ", text.strip().lower())
    low = _WORDS.get(low, low)
    return re.sub(r"[^a-z0-9]+", "-", low).strip("-")


def in_vm(g: Gpu) -> bool:
    return isinstance(g.virtualization, str) and g.virtualization in IN_VM


def nvlink_not_exposed(g: Gpu) -> bool:
    """An NVLink SKU in a VM whose driver answered, definitely, that it has no NVLink port."""
    sku = skus.lookup(g.name)
    return (g.status == "ok" and in_vm(g) and not g.nvlinks and g.nvlinks_unread is None
            and sku is not None and sku.has_nvlink)


def vm_words(g: Gpu) -> str:
    """`GPU0 is passed through to a VM` / `GPU0 is a vGPU in a VM`."""
    return f"{g.label} is a vGPU in a VM" if g.virtualization == "vgpu" else f"{g.label} is passed through to a VM"


def not_exposed_reason(gpus: list[Gpu]) -> str:
    """`GPU0 is passed through to a VM and the driver exposes no NVLink port` (one or many GPUs)."""
    if len(gpus) == 1:
        return f"{vm_words(gpus[0])} and the driver exposes no NVLink port"
    labels = ", ".join(g.label for g in gpus)
    how = "are vGPUs in a VM" if all(g.virtualization == "vgpu" for g in gpus) else "are passed through to a VM"
    return f"{labels} {how} and the driver exposes no NVLink port"


def pcie_paths_words(topology: Topology, gpus: list[Gpu], limit: int = 4) -> str:
    """The path each pair of `gpus` takes now, `GPU0-GPU1 PHB, GPU0-GPU2 SYS` (the first `limit` pairs, then
    `(+N more pairs)`)."""
    labels = {g.label for g in gpus}
    pairs = [f"{lk.a}-{lk.b} {lk.path}" for lk in topology.gpu_links() if lk.a in labels and lk.b in labels]
    more = f" (+{len(pairs) - limit} more pairs)" if len(pairs) > limit else ""
    return ", ".join(pairs[:limit]) + more
