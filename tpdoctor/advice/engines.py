"""What the serving engine adds to a decode step that does not shrink with TP.

A decode step launches ~10-15 kernels per layer (norms, rotary, attention, activation, residual adds, the
GEMMs) whose fixed cost — launch gaps, synchronisation, the non-GEMM ops themselves — is paid on every GPU
whatever the TP size. Two regimes:

- **graphs**: the step is replayed as a CUDA graph (vLLM ≥ 0.3 by default, SGLang, TensorRT-LLM, TGI,
  LMDeploy TurboMind, MLC, gpt-fast with torch.compile) or driven from C++ (FasterTransformer): a fixed
  `LAYER_US` per layer (sampling and the host loop included: a separate per-step constant fitted to 0).
  Graph replay leaves ~2.5 µs gaps between kernels on B200 (stas00 benchmarks README): ~10-15 kernels make
  tens of µs per layer.
- **eager**: every kernel and collective is launched from Python (vLLM ≤ 0.2, `--enforce-eager`, HF
  transformers): the host issues them slower than the GPU runs them at small batch, so a step costs the larger
  of the GPU time and the host time (`EAGER_LAYER_US` per layer; a per-collective host term fitted to 0).
  vLLM's CUDA-graph PR says graphs are "particularly effective for small models and when using tensor
  parallelism" (vllm-project/vllm#1926); without graphs Llama-2-7B bs=1 ran 1.2 s vs 1.05 s for 100 tokens
  (vllm#1440).

Both constants are fitted on the calibration part of the published set (`benchmarks/costmodel_vs_published.py`);
the profile flags come from each engine's documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

LAYER_US = 56.9  # fitted: µs per layer, graphs
EAGER_LAYER_US = 797.0  # fitted: µs of host time per layer, eager (vLLM 0.2 with Ray workers)


@dataclass(frozen=True)
class Engine:
    name: str
    graphs: bool = True  # CUDA graphs or a C++ runtime: no per-kernel host cost on the critical path
    custom_allreduce: bool = True  # one-shot custom all-reduce where the topology allows it
    lm_head_sharded: bool = True  # vocab-parallel LM head (gpt-fast keeps it whole on every GPU)
    quantized_lm_head: bool = False  # the LM head in the weights' format (gpt-fast and MLC quantise every linear)
    weight_only_kernel: str = "fused"  # fused (Marlin, TensorRT-LLM, MLC) | torch (gpt-fast): quant.kernel_eff
    note: str = ""


ENGINES: dict[str, Engine] = {
    "vllm": Engine("vllm", note="CUDA graphs and custom all-reduce by default (v0.3+)"),
    "sglang": Engine("sglang", note="CUDA graphs and custom all-reduce by default"),
    "trtllm": Engine("trtllm", note="C++ runtime with CUDA graphs; custom all-reduce plugin"),
    "tgi": Engine("tgi", custom_allreduce=False, note="CUDA graphs; NCCL all-reduce"),
    "vllm-eager": Engine("vllm-eager", graphs=False, note="--enforce-eager (or vLLM <= 0.2): no CUDA graphs"),
    "nccl": Engine("nccl", custom_allreduce=False, note="CUDA graphs with NCCL all-reduce"),
}
DEFAULT = ENGINES["vllm"]


def engine(name: str | None, *, eager: bool = False) -> Engine:
    """The profile of an engine by name (vllm, sglang, trtllm, tgi); unknown names get vLLM's defaults."""
    if eager:
        return ENGINES["vllm-eager"]
    return ENGINES.get((name or "").lower(), DEFAULT)


def fixed_ms(layers: int, eng: Engine) -> float:
    """The per-step cost that does not shrink with TP, on the GPU side — ms."""
    return layers * LAYER_US / 1e3


def host_ms(layers: int, eng: Engine) -> float:
    """Host time of one eager step (0 for graphs): the floor a Python-driven step cannot go below — ms."""
    return 0.0 if eng.graphs else layers * EAGER_LAYER_US / 1e3
