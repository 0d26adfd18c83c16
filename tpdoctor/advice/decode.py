"""One decode step of one TP group, term by term.

    step = weight bytes / (HBM × η × kernel eff) + GEMM FLOPs / (peak × η_mm)         weights, then the math
         + max(KV bytes / (HBM × η), attention FLOPs / (peak × η_mm))                  attention over the context
         + layers × layer_us + the engine's per-step host work (+ TP input broadcast)  fixed: does not shrink with TP
         + MoE layers × distinct experts × moe_expert_us                               per expert, on every GPU
         + 2 × layers × all-reduce(n, batch × hidden × 2 B, path, implementation)      collectives
  (eager engines: the larger of that and the host time to issue it; engines.py). The GEMM math runs at an
  efficiency that falls as TP narrows each GPU's GEMMs (hardware.matmul_efficiency). Constants: params.P
  (data/costmodel.yaml).

The weight stream and the GEMM math are added, not overlapped (no roofline max): decode GEMMs are M=batch
thin, and the published batch series (FasterTransformer GPT-20B at batch 1→64, LMDeploy at 1→64) grow with the
batch as the sum predicts, while the max under-predicts them by up to 25%.

Bytes and FLOPs are per GPU:
- attention and FFN weights are split n ways, except K/V projections when n exceeds the KV heads (each GPU
  then holds whole KV heads: vLLM replicates them) and, for MLA, the down-projections every GPU keeps;
- MoE layers read only the experts the batch routes to: E × (1 − (1 − k/E)^batch) distinct experts per
  layer in expectation (uniform routing), each split n ways (tensor-parallel experts);
- the LM head is split n ways (vocab-parallel) unless the engine keeps it whole; quantised checkpoints keep
  it and the embeddings 16-bit; the embedding lookup reads only `batch` rows;
- the KV cache is split across min(n, KV heads) GPUs (MLA: replicated on every GPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tpdoctor.advice import collectives, engines, hardware, params, quant
from tpdoctor.advice.engines import Engine
from tpdoctor.advice.hardware import GpuPerf
from tpdoctor.advice.params import P
from tpdoctor.llm.models import ModelSpec
from tpdoctor.llm.sizing import kv_bytes_per_token

ACT_BYTES = 2  # activations all-reduced in bf16/fp16 whatever the weights


@dataclass(frozen=True)
class Link:
    """The path a group's collectives take: weakest path (topo -m vocabulary) and busbw as used."""

    path: str
    busbw_gbps: float
    source: str  # measured | nominal
    local: str | None = None  # the class of the ring's other links, when better than `path` (collectives.py)


@dataclass(frozen=True)
class Step:
    """One decode step, ms, with the terms that make it."""

    weights_ms: float  # streaming the weights (memory-bound side)
    compute_ms: float  # GEMM FLOPs (compute-bound side)
    attention_ms: float  # KV reads (or attention FLOPs, whichever is larger)
    fixed_ms: float  # per-layer and per-step cost that does not shrink with TP
    allreduce_ms: float
    allreduce_us: float  # one collective
    allreduce_impl: str
    host_ms: float  # eager engines: the host's floor
    step_ms: float
    weight_bytes: float  # per GPU
    kv_bytes: float  # per GPU
    flops: float  # per GPU
    collectives: int
    explain: tuple[str, ...]

    @property
    def compute_bound(self) -> bool:
        return self.compute_ms > self.weights_ms


def distinct_experts(spec: ModelSpec, batch: int) -> float:
    """Expected distinct routed experts per MoE layer for `batch` tokens (uniform routing)."""
    e, k = spec.experts, spec.experts_per_token
    return e * (1 - (1 - k / e) ** max(batch, 1)) if e else 0.0


def _attention_params(spec: ModelSpec, tp: int) -> float:
    """Attention weights one GPU holds, per layer."""
    h = spec.hidden
    if spec.is_mla:
        whole = h * spec.q_lora_rank + h * (spec.kv_lora_rank + spec.qk_rope_head_dim)
        return whole + (spec.attention_params() - whole) / tp
    q_out, kv_out = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    return 2 * h * q_out / tp + 2 * h * kv_out / min(tp, spec.kv_heads)


def _ffn_params(spec: ModelSpec, tp: int, batch: int) -> tuple[float, float]:
    """(FFN weights one GPU streams per step, FFN weights each token multiplies) — all layers."""
    dense = 3 * spec.hidden * spec.intermediate
    if not spec.is_moe:
        return spec.layers * dense / tp, spec.layers * dense / tp
    moe_streamed = distinct_experts(spec, batch) * spec.expert_params() + spec.shared_params()
    moe_used = spec.experts_per_token * spec.expert_params() + spec.shared_params()
    router = spec.hidden * spec.experts
    return ((spec.dense_layers * dense + spec.moe_layers * moe_streamed) / tp + spec.moe_layers * router,
            (spec.dense_layers * dense + spec.moe_layers * moe_used) / tp + spec.moe_layers * router)


@lru_cache(maxsize=8192)  # a fleet check asks the same few shapes thousands of times; inputs and Step are frozen
def step(spec: ModelSpec, *, fmt: str, gpu: GpuPerf, tp: int, batch: int = 1, context: int = 1024,
         link: Link | None = None, eng: Engine = engines.DEFAULT, kv_dtype: str = "bf16",
         prefill_tokens: float = 0.0) -> Step:
    """Time of one decode step for `batch` streams on a TP group of `tp` GPUs (see the module docstring).
    `prefill_tokens`: prompt tokens of arriving requests processed inside each step (serving at a steady
    concurrency C with P-token prompts and O-token answers: about (C − 1) × P / O)."""
    wf = quant.fmt(fmt)
    native = gpu.has_native(wf.compute)
    head = spec.vocab * spec.hidden / (tp if eng.lm_head_sharded else 1)
    head_bytes = head * (wf.bytes_per_param if eng.quantized_lm_head else max(2.0, wf.bytes_per_param))
    streamed, used = _ffn_params(spec, tp, batch)
    attn = spec.layers * _attention_params(spec, tp)
    wbytes = (attn + streamed) * wf.bytes_per_param + head_bytes
    bw = gpu.hbm_tbps * 1e12 * P.hbm_efficiency
    eff = quant.kernel_eff(wf, native, eng.weight_only_kernel)
    weights_ms = wbytes / (bw * eff) * 1e3
    flops = 2 * batch * (attn + used + head) + 2 * prefill_tokens * (attn + used)
    peak = gpu.peak_tflops(wf.compute if native else "bf16")
    eta_mm = hardware.matmul_efficiency(gemm_columns(spec) / tp)
    rate = peak * 1e12 * eta_mm if peak else 0.0
    compute_ms = flops / rate * 1e3 if rate else 0.0
    kv_split = 1 if spec.is_mla else min(tp, spec.kv_heads)
    kv = batch * context * kv_bytes_per_token(spec, kv_dtype) / kv_split
    attn_flops = 4 * batch * context * spec.heads * spec.head_dim * spec.layers / tp
    attention_ms = max(kv / bw, attn_flops / rate if rate else 0.0) * 1e3
    n_coll = 2 * spec.layers if tp > 1 else 0
    ar = collectives.allreduce(tp, batch * spec.hidden * ACT_BYTES, link.path if link else "NV",
                               link.busbw_gbps if link else 1.0, custom=eng.custom_allreduce, arch=gpu.arch,
                               local=link.local if link else None)
    ar_ms = n_coll * ar.us / 1e3
    fixed = engines.fixed_ms(spec.layers, eng, tp) + expert_ms(spec, batch)
    host = engines.host_ms(spec.layers, eng)
    total = max(weights_ms + compute_ms + attention_ms + fixed + ar_ms, host)
    terms: dict[str, float | int | str] = dict(
        weights_ms=weights_ms, compute_ms=compute_ms, attention_ms=attention_ms, fixed_ms=fixed,
        allreduce_ms=ar_ms, allreduce_us=ar.us, allreduce_impl=ar.impl, host_ms=host, step_ms=total,
        weight_bytes=wbytes, kv_bytes=kv, flops=flops, collectives=n_coll)
    lines = _explain(spec, wf.name, gpu, tp, batch, context, eff, ar, link, terms, eng, eta_mm)
    return Step(**terms, explain=tuple(lines))  # type: ignore[arg-type]


params.on_change(step.cache_clear)


def gemm_columns(spec: ModelSpec) -> float:
    """Output width of the layer's widest GEMMs on one GPU at TP=1 (the FFN's, an expert's for MoE)."""
    return float(spec.moe_intermediate or spec.intermediate) if spec.is_moe else float(spec.intermediate)


def expert_ms(spec: ModelSpec, batch: int) -> float:
    """Per-expert cost of a fused MoE kernel (every GPU runs its slice of each routed expert) — ms."""
    return spec.moe_layers * distinct_experts(spec, batch) * P.moe_expert_us / 1e3 if spec.is_moe else 0.0


def _explain(spec: ModelSpec, fmt: str, gpu: GpuPerf, tp: int, batch: int, context: int, eff: float,
             ar: collectives.AllReduce, link: Link | None, t: dict[str, float | int | str], eng: Engine,
             eta_mm: float) -> list[str]:
    eta = P.hbm_efficiency
    lines = [
        f"weights per GPU: {float(t['weight_bytes']) / 1e9:.2f} GB of {fmt}"
        f"{' (experts the batch routes to)' if spec.is_moe else ''} / ({gpu.hbm_tbps:g} TB/s × {eta:g}"
        f"{f' × {eff:g} dequant' if eff < 1 else ''}) = {float(t['weights_ms']):.2f} ms",
        f"GEMM compute: {float(t['flops']) / 1e12:.3f} TFLOP per GPU at batch {batch}"
        + (f" at {eta_mm:.2f} of the dense peak = {float(t['compute_ms']):.2f} ms"
           if t["compute_ms"] else " (no FLOP/s figure for this GPU: not counted)"),
        f"KV cache: {batch}×{context} tokens = {float(t['kv_bytes']) / 1e9:.3f} GB per GPU → "
        f"{float(t['attention_ms']):.2f} ms",
        f"fixed: {spec.layers} layers × {P.layer_us:.1f} µs + {eng.name}{' ' + eng.version if eng.version else ''} "
        f"({eng.runtime} runtime) per-step work{' + TP input broadcast' if eng.tp_broadcast and tp > 1 else ''}"
        f"{' + per-expert MoE cost' if spec.is_moe else ''} = {float(t['fixed_ms']):.2f} ms (does not shrink with TP)",
    ]
    if t["collectives"]:
        lines.append(f"all-reduce: {t['collectives']} per token over {link.path if link else '?'} "
                     f"({link.source if link else '?'} {link.busbw_gbps if link else 0:.0f} GB/s): "
                     f"{ar.detail} = {ar.us:.1f} µs each → {float(t['allreduce_ms']):.2f} ms")
    if t["host_ms"]:
        lines.append(f"eager host floor: {float(t['host_ms']):.2f} ms per step (kernels issued from Python)")
    total = float(t["step_ms"])
    lines.append(f"per step: {total:.2f} ms → {1e3 / total:.0f} tok/s per stream, "
                 f"{batch * 1e3 / total:.0f} tok/s for the group's {batch} stream(s)")
    return lines
