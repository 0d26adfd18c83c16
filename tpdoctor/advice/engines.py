"""What the serving engine adds to a decode step that does not shrink with TP, by engine and version
(`data/engines.yaml`: each profile with its source).

A decode step launches ~10-15 kernels per layer (norms, rotary, attention, activation, residual adds, the
GEMMs) whose fixed cost — launch gaps, synchronisation, the non-GEMM ops themselves — is paid on every GPU
whatever the TP size (`layer_us` per layer). Around the GPU work, the engine's loop does host work every step
that CUDA graphs do not remove: scheduling, sampling, preparing the next step's inputs —
`step_us_python` for Python engines, `step_us_native` for C++/compiled runtimes — and a multi-process Python
engine whose driver sends each step's inputs to its TP workers (vLLM's V0 engine, TGI's sharded servers) pays
`tp_step_us` more per step whenever TP > 1. vLLM's V1 engine (0.8) moved that to shared memory and overlaps
scheduling with the GPU.

- **graphs**: the step is replayed as a CUDA graph or driven from C++: the fixed costs above.
- **eager**: every kernel and collective is launched from Python (vLLM ≤ 0.2.4, TGI < 2.0, `--enforce-eager`):
  the host issues them slower than the GPU runs them at small batch, so a step costs the larger of the GPU
  time and `eager_layer_us` per layer of host time. vLLM's CUDA-graph PR says graphs are "particularly
  effective for small models and when using tensor parallelism" (vllm-project/vllm#1926).

The constants are fitted on the calibration families (`benchmarks/costmodel_vs_published.py`,
data/costmodel.yaml); the profile flags come from each engine's history (data/engines.yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tpdoctor.advice.params import P


@dataclass(frozen=True)
class Engine:
    name: str
    graphs: bool = True  # CUDA graphs or a C++ runtime: no per-kernel host cost on the critical path
    custom_allreduce: bool = True  # one-shot custom all-reduce where the topology allows it
    lm_head_sharded: bool = True  # vocab-parallel LM head (gpt-fast keeps it whole on every GPU)
    quantized_lm_head: bool = False  # the LM head in the weights' format (gpt-fast and MLC quantise every linear)
    weight_only_kernel: str = "fused"  # fused | torch | awq-legacy: quant.kernel_eff
    runtime: str = "python"  # python | native: which per-step host constant applies
    tp_broadcast: bool = False  # the driver sends every step's inputs to its TP workers
    version: str = ""  # the version asked for ("" = the current release)
    note: str = ""


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    text = resources.files("tpdoctor.data").joinpath("engines.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(yaml.load(text, Loader=loader)["engines"])  # noqa: S506 - a safe loader


def names() -> list[str]:
    return list(_table())


def version_key(text: str) -> tuple[int, ...]:
    """'0.7.2' -> (0, 7, 2); 'v2.0.1' and '0.10.1+gptoss' read the same way. ValueError when no number."""
    nums = re.findall(r"\d+", text.split("+")[0])
    if not nums:
        raise ValueError(f"{text!r} is not a version")
    return tuple(int(n) for n in nums)


def _profile(name: str, version: str | None) -> dict[str, Any]:
    versions = _table()[name]["versions"]
    if version:
        key = version_key(version)
        for v in versions:
            if "until" in v and key < version_key(str(v["until"])):
                return dict(v)
    return dict(versions[-1])


@lru_cache(maxsize=256)
def engine(name: str | None, *, eager: bool = False, version: str | None = None) -> Engine:
    """The profile of an engine (data/engines.yaml) at a version (default: the current release); unknown names
    get vLLM's current profile. `eager`: CUDA graphs off (`--enforce-eager`)."""
    key = (name or "vllm").lower()
    if key not in _table():
        key = "vllm"
    prof = _profile(key, version)
    return Engine(key, graphs=bool(prof.get("graphs", True)) and not eager,
                  custom_allreduce=bool(prof.get("custom_allreduce", True)),
                  lm_head_sharded=bool(prof.get("lm_head_sharded", True)),
                  quantized_lm_head=bool(prof.get("quantized_lm_head", False)),
                  weight_only_kernel=str(prof.get("weight_only", "fused")), runtime=str(prof.get("runtime", "python")),
                  tp_broadcast=bool(prof.get("tp_broadcast", False)), version=version or "",
                  note=str(prof.get("note", "")) + ("; --enforce-eager" if eager else ""))


DEFAULT = engine("vllm")


def fixed_ms(layers: int, eng: Engine, tp: int = 1) -> float:
    """The per-step cost that does not shrink with TP: layers × layer_us, the engine's per-step host work, and
    the TP input broadcast of multi-process Python engines — ms."""
    step = P.step_us_python if eng.runtime == "python" else P.step_us_native
    bcast = P.tp_step_us if eng.tp_broadcast and tp > 1 else 0.0
    return (layers * P.layer_us + step + bcast) / 1e3


def host_ms(layers: int, eng: Engine) -> float:
    """Host time of one eager step (0 for graphs): the floor a Python-driven step cannot go below — ms."""
    return 0.0 if eng.graphs else layers * P.eager_layer_us / 1e3
