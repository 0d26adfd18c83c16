"""Which accelerator a job runs on, from what it names: devices, images, resources and variables.

tpdoctor judges NVIDIA GPUs. A ROCm, Gaudi, TPU, Ascend, Neuron or CPU-only job is recognised by what it
*says*, not by the accident of a missing flag:
- strong signals decide on their own: device nodes (`/dev/kfd` is the ROCm compute driver, `/dev/accel` Gaudi,
  `/dev/neuron*`, `/dev/davinci*` Ascend), images (`rocm/…`, `…-rocm`, `vllm-openai-rocm`, `optimum-tpu`,
  `gaudi`/`habana` images, `vllm-openai-cpu`, `vllm-cpu-env`), resources (`amd.com/gpu`, `habana.ai/gaudi`,
  `google.com/tpu` …: see containers.NOT_GPU_RESOURCES) and accelerator names (`MI300X`, `v5litepod-4`);
- variables (`HIP_VISIBLE_DEVICES`, `ROCR_VISIBLE_DEVICES`, `HSA_*`, `VLLM_ROCM_*`, `AITER` as a word between
  underscores (`SGLANG_USE_AITER`, `AITER_JIT_DIR`; never `MAX_WAITERS`), `PYTORCH_ROCM_ARCH`;
  `HABANA_VISIBLE_DEVICES`, `PT_HPU_*`; `TPU_*`, `PJRT_DEVICE=TPU`; `ASCEND_RT_VISIBLE_DEVICES`;
  `NEURON_RT_*`; `VLLM_CPU_*`) decide only when nothing names an NVIDIA GPU (`CUDA_VISIBLE_DEVICES`,
  `NVIDIA_VISIBLE_DEVICES`, `nvidia.com/gpu`, `docker --gpus`, an nvidia device reservation): a benchmark
  script that sets both `CUDA_VISIBLE_DEVICES` and `HSA_VISIBLE_DEVICES` runs on NVIDIA.
Each answer is a reason in words that names the vendor ("an AMD ROCm job (/dev/kfd)").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

NAMES = {"amd": "an AMD ROCm job", "gaudi": "an Intel Gaudi job", "tpu": "a TPU job", "ascend": "an Ascend NPU job",
         "neuron": "an AWS Neuron job", "cpu": "a CPU-only job"}
_DEVICES = (("/dev/kfd", "amd"), ("/dev/accel", "gaudi"), ("/dev/neuron", "neuron"), ("/dev/davinci", "ascend"))
_IMAGES = ((re.compile(r"(^|[/:._-])rocm"), "amd"), (re.compile(r"(^|[/:._-])(gaudi|habana|hpu)([/:._-]|$)"), "gaudi"),
           (re.compile(r"(^|[/:._-])(optimum-)?tpu([/:._-]|$)"), "tpu"), (re.compile(r"neuron"), "neuron"),
           (re.compile(r"(^|[/:._-])(ascend|mindie)"), "ascend"), (re.compile(r"(^|[/_-])cpu([/:._-]|$)"), "cpu"))
_VARS = ((re.compile(r"^(HIP_VISIBLE_DEVICES|ROCR_VISIBLE_DEVICES|HSA_\w+|VLLM_ROCM_\w+|(\w+_)?AITER(_\w+)?|"
                     r"PYTORCH_ROCM_ARCH|GPU_FORCE_BLIT_COPY_SIZE|DEBUG_HIP_\w+)$"), "amd"),
         (re.compile(r"^(HABANA_\w+|PT_HPU_\w+)$"), "gaudi"), (re.compile(r"^(TPU_\w+|XLA_USE_SPMD)$"), "tpu"),
         (re.compile(r"^ASCEND_\w+$"), "ascend"), (re.compile(r"^NEURON_RT_\w+$"), "neuron"),
         (re.compile(r"^VLLM_CPU_\w+$"), "cpu"))
_ACCELERATORS = ((re.compile(r"^(mi\d{2,3}[a-z]*|instinct|radeon|rx\d+)", re.I), "amd"),
                 (re.compile(r"^(tpu|v\d+(lite)?(pod)?)", re.I), "tpu"), (re.compile(r"^gaudi", re.I), "gaudi"))
NVIDIA_VARS = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")


def describe(vendor: str, evidence: str) -> str:
    return f"{NAMES[vendor]} ({evidence})"


def from_devices(devices: Iterable[str]) -> str | None:
    """Device nodes a container is given (compose `devices:`, `docker --device`)."""
    for dev in devices:
        host = str(dev).split(":", 1)[0]
        for prefix, vendor in _DEVICES:
            if host.startswith(prefix):
                return describe(vendor, host)
    return None


def from_image(image: str) -> str | None:
    low = image.lower()
    for pattern, vendor in _IMAGES:
        if pattern.search(low):
            return describe(vendor, f"image {image}")
    return None


def from_accelerator(name: str) -> str | None:
    """An accelerator name a scheduler provisions (dstack `gpu: MI300X`, SkyPilot `tpu-v5e`)."""
    for pattern, vendor in _ACCELERATORS:
        if pattern.match(name.strip()):
            return describe(vendor, f"accelerator {name.strip()}")
    return None


def from_env(env: Mapping[str, str] | Iterable[str], nvidia_named: bool = False) -> str | None:
    """Variables only another vendor's stack reads; None when an NVIDIA GPU is named too."""
    names = list(env)
    if nvidia_named or any(n in NVIDIA_VARS for n in names):
        return None
    if isinstance(env, Mapping) and str(env.get("PJRT_DEVICE", "")).upper() == "TPU":
        return describe("tpu", "PJRT_DEVICE=TPU")
    for name in names:
        for pattern, vendor in _VARS:
            if pattern.match(name):
                return describe(vendor, name)
    return None
