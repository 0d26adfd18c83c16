"""Memory per GPU of a model served with tensor parallelism: weights, KV cache, engine overhead.

Every figure keeps its arithmetic as text (`MemoryEstimate.explain`) so `--explain` shows how it was
reached. Bytes are exact integers; messages print binary GiB (2^30 B, what NVIDIA's
"94 GB" H100 NVL means: 95830 MiB = 93.6 GiB) and nvidia-smi's MiB.

Conventions (estimates, documented in docs/check-deployment.md):
- Quantised checkpoints (fp8, int8, int4/AWQ/GPTQ) quantise the linear layers; embeddings and the LM head
  stay 16-bit. int4 adds group-128 scales and zeros (16-bit each): +0.03125 B per weight.
- KV cache is 16-bit unless the deployment says `kv_cache_dtype: fp8`; it holds max_model_len ×
  max_num_seqs tokens (max_num_seqs defaults to 1: the minimum an engine needs to start).
- Engine overhead per GPU: CUDA context + NCCL/custom all-reduce buffers (1.0 GiB), CUDA graphs
  (0.5 GiB), and the profiling-pass activations of max_num_batched_tokens (default 8192) tokens.
- vLLM and SGLang may use `gpu_memory_utilization` (vLLM default 0.9; SGLang mem_fraction_static ~0.88)
  of each GPU; TGI and TensorRT-LLM are treated the same way at 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.llm.models import ModelSpec

GIB = 1 << 30
MIB = 1 << 20

DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0,
    "int4": 0.5 + 2 * 2 / 128, "awq": 0.5 + 2 * 2 / 128, "gptq": 0.5 + 2 * 2 / 128,
}
_DTYPE_ALIASES = {
    "float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
    "auto": "", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "float8": "fp8", "e4m3": "fp8",
    "w8a8": "int8", "int8_weight_only": "int8", "w4a16": "int4", "int4_awq": "awq", "awq_marlin": "awq",
    "gptq_marlin": "gptq", "bitsandbytes": "int4", "compressed-tensors": "",
}
DEFAULT_UTILIZATION = 0.9
DEFAULT_BATCHED_TOKENS = 8192
CONTEXT_OVERHEAD_BYTES = 1 * GIB
CUDA_GRAPH_BYTES = GIB // 2


def normalize_dtype(text: str | None, default: str = "bf16") -> str:
    """`bfloat16` -> `bf16`, `awq_marlin` -> `awq`; `auto`/empty -> default. Unknown text raises ValueError."""
    if text is None:
        return default
    t = str(text).strip().lower()
    t = _DTYPE_ALIASES.get(t, t)
    if not t:
        return default
    if t not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {text!r} (known: {', '.join(sorted(DTYPE_BYTES))})")
    return t


def gib(n_bytes: float) -> str:
    """Bytes as binary GiB for messages, e.g. `26.5 GiB`."""
    return f"{n_bytes / GIB:.1f} GiB"


@dataclass(frozen=True)
class MemoryEstimate:
    """Per-GPU memory of one TP×PP group; `explain` is the arithmetic, line by line."""

    model: str
    dtype: str
    tp: int
    pp: int
    weights_bytes: int  # whole model
    kv_bytes: int  # whole KV cache for kv_tokens
    kv_tokens: int
    overhead_bytes_per_gpu: int
    per_gpu_bytes: int
    capacity_bytes_per_gpu: int | None  # memory × utilization, when the GPU is known
    utilization: float
    explain: tuple[str, ...] = field(default=(), compare=False)

    @property
    def fits(self) -> bool | None:
        if self.capacity_bytes_per_gpu is None:
            return None
        return self.per_gpu_bytes <= self.capacity_bytes_per_gpu


def weight_bytes(spec: ModelSpec, dtype: str) -> tuple[int, str]:
    """Bytes of all weights in `dtype`, and the arithmetic."""
    d = normalize_dtype(dtype)
    linear = spec.linear_params()
    emb = spec.embedding_params()
    if d in ("fp32", "bf16", "fp16"):
        total = (linear + emb) * DTYPE_BYTES[d]
        text = f"weights: {spec.total_params() / 1e9:.2f}B params × {DTYPE_BYTES[d]:g} B ({d}) = {gib(total)}"
    else:
        total = linear * DTYPE_BYTES[d] + emb * 2
        text = (f"weights: {linear / 1e9:.2f}B linear params × {DTYPE_BYTES[d]:g} B ({d}) + "
                f"{emb / 1e9:.2f}B embedding params × 2 B (16-bit) = {gib(total)}")
    return int(total), text


def kv_bytes_per_token(spec: ModelSpec, kv_dtype: str = "bf16") -> int:
    return int(spec.kv_elements_per_token() * DTYPE_BYTES[normalize_dtype(kv_dtype)])


def activation_bytes(spec: ModelSpec, tp: int, batched_tokens: int = DEFAULT_BATCHED_TOKENS) -> int:
    """Peak activations of the profiling pass per GPU: residual/attention buffers plus the FFN slice."""
    ffn = spec.moe_intermediate * max(spec.experts_per_token, 1) if spec.is_moe else spec.intermediate
    return batched_tokens * (4 * spec.hidden + 2 * ffn // max(tp, 1)) * 2


def estimate(spec: ModelSpec, *, dtype: str, tp: int, pp: int = 1, max_model_len: int | None = None,
             max_num_seqs: int | None = None, kv_dtype: str = "bf16", gpu_memory_mib: int | None = None,
             utilization: float = DEFAULT_UTILIZATION) -> MemoryEstimate:
    """Memory per GPU for `spec` at this TP×PP and dtype; `capacity` when the GPU's memory is known."""
    tp, pp = max(tp, 1), max(pp, 1)
    shards = tp * pp
    lines: list[str] = []
    w, wtext = weight_bytes(spec, dtype)
    lines.append(wtext)
    ctx = max_model_len or spec.max_context
    seqs = max_num_seqs or 1
    per_tok = kv_bytes_per_token(spec, kv_dtype)
    kv_tokens = ctx * seqs
    kv = per_tok * kv_tokens
    kv_shape = (f"{spec.layers} layers × ({spec.kv_lora_rank}+{spec.qk_rope_head_dim}) latent" if spec.is_mla
                else f"2 × {spec.layers} layers × {spec.kv_heads} KV heads × {spec.head_dim} head_dim")
    lines.append(f"KV cache: {kv_shape} × {DTYPE_BYTES[normalize_dtype(kv_dtype)]:g} B ({kv_dtype}) = "
                 f"{per_tok / 1024:.0f} KiB/token × {ctx} max_model_len × {seqs} max_num_seqs = {gib(kv)}")
    act = activation_bytes(spec, tp)
    overhead = CONTEXT_OVERHEAD_BYTES + CUDA_GRAPH_BYTES + act
    lines.append(f"engine overhead per GPU: 1.0 GiB context/NCCL + 0.5 GiB CUDA graphs + "
                 f"{gib(act)} activations ({DEFAULT_BATCHED_TOKENS} batched tokens) = {gib(overhead)}")
    # KV heads are replicated when TP exceeds them; MLA's latent is replicated on every TP rank.
    kv_split = 1 if spec.is_mla else min(tp, spec.kv_heads)
    per_gpu = int(w / shards + kv / (kv_split * pp) + overhead)
    lines.append(f"per GPU at TP={tp} PP={pp}: {gib(w)}/{shards} + {gib(kv)}/{kv_split * pp} + "
                 f"{gib(overhead)} = {gib(per_gpu)}")
    capacity: int | None = None
    if gpu_memory_mib:
        capacity = int(gpu_memory_mib * MIB * utilization)
        verdict = "fits" if per_gpu <= capacity else "does NOT fit"
        lines.append(f"capacity per GPU: {gpu_memory_mib} MiB × {utilization:g} utilization = "
                     f"{gib(capacity)} → {verdict}")
    return MemoryEstimate(model=spec.name, dtype=normalize_dtype(dtype), tp=tp, pp=pp, weights_bytes=w,
                          kv_bytes=kv, kv_tokens=kv_tokens, overhead_bytes_per_gpu=overhead,
                          per_gpu_bytes=per_gpu, capacity_bytes_per_gpu=capacity, utilization=utilization,
                          explain=tuple(lines))


def min_tp_that_fits(spec: ModelSpec, *, dtype: str, gpu_memory_mib: int, max_tp: int = 8,
                     **kw: object) -> int | None:
    """Smallest power-of-two TP (1, 2, 4, 8 …) at which the model fits, or None up to max_tp."""
    tp = 1
    while tp <= max_tp:
        est = estimate(spec, dtype=dtype, tp=tp, gpu_memory_mib=gpu_memory_mib, **kw)  # type: ignore[arg-type]
        if est.fits:
            return tp
        tp *= 2
    return None
