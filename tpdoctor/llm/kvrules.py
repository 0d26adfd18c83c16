"""How each engine sizes its KV cache on one GPU, and when it refuses to start (the engines' own rules).

Engines do not allocate `max_num_seqs × max_model_len` tokens of KV. Each gives the KV cache what its memory
rule leaves after the weights and its overheads, and refuses to start only on its own condition:

- vLLM (v1 engine; vllm/v1/worker/gpu_worker.py:641-821, vllm/v1/core/kv_cache_planning.py:55-86):
  KV = gpu_memory_utilization × total − weights − activation peak (max_num_batched_tokens) − CUDA graphs −
  non-torch memory. Refuses when KV ≤ 0 or when ONE max_model_len sequence does not fit ("To serve at least
  one request with the model's max seq len …"). max_num_seqs reserves nothing; too little KV queues requests.
- SGLang (python/sglang/srt/mem_cache/kv_cache_configurator.py:2990-3060): weights + KV pool =
  mem_fraction_static × free memory at start (default: the memory_hook.py:281-343 formula, ~0.81-0.83 on
  80 GB cards); refuses when the weights leave nothing. A pool shorter than context_length only warns and caps
  each request (python/sglang/srt/managers/tp_worker.py:555-572).
- TGI (server/text_generation_server/models/flash_causal_lm.py:1507-1684): KV = CUDA_MEMORY_FRACTION × 0.90 ×
  total − weights − the max_batch_prefill_tokens prefill peak; refuses when a user --max-total-tokens exceeds
  what the blocks hold (backends/v3/src/lib.rs:98-100), and when num_shard exceeds the KV heads.
- TensorRT-LLM, PyTorch backend (tensorrt_llm/_torch/pyexecutor/_util.py:94-112@d8ae02ca): KV =
  kv_cache_free_gpu_memory_fraction (0.9) × the memory free after weights and the max_num_tokens peak. One
  max_seq_len sequence that does not fit shortens the attention window, unless
  --fail_fast_on_attention_window_too_large (tensorrt_llm/commands/serve.py:318-324) makes it an error.

Overheads tpdoctor cannot measure offline are estimates, stated in every explanation: CUDA context 0.5 GiB,
NCCL/non-torch 0.5 GiB with TP > 1, CUDA graphs 0.5 GiB (0 with --enforce-eager).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tpdoctor.llm.models import ModelSpec
from tpdoctor.llm.sizing import GIB, MIB, activation_bytes, gib, normalize_dtype, weight_bytes

CONTEXT_BYTES = GIB // 2  # CUDA context: outside vLLM's budget, inside everyone's total
NCCL_BYTES = GIB // 2  # NCCL and custom all-reduce buffers with TP > 1
GRAPH_BYTES = GIB // 2  # CUDA graphs (vLLM, TGI, SGLang reserve their own, TRT-LLM)
BLOCK = 16  # vLLM's default block size (vllm/config/cache.py:185)
SOURCES = {
    "vllm": "vllm/v1/worker/gpu_worker.py:753-757 and vllm/v1/core/kv_cache_planning.py:65-86 (vLLM v0.33.0)",
    "sglang": "python/sglang/srt/mem_cache/kv_cache_configurator.py:3007-3058 (SGLang v0.5.23)",
    "tgi": "server/text_generation_server/models/flash_causal_lm.py:1547-1563 and backends/v3/src/lib.rs:98-100 "
           "(TGI db931fcf)",
    "trtllm": "tensorrt_llm/_torch/pyexecutor/_util.py:94-112@d8ae02ca and tensorrt_llm/commands/serve.py:318-324",
}


@dataclass(frozen=True)
class Knobs:
    """The deployment's memory settings, as the engine reads them (None: the engine's default)."""

    engine: str
    dtype: str
    kv_dtype: str | None = None
    tp: int = 1
    pp: int = 1
    max_model_len: int | None = None  # vLLM max_model_len, SGLang context_length, TRT max_seq_len
    max_num_seqs: int | None = None  # concurrency asked, when the deployment sets it
    gpu_memory_utilization: float | None = None
    mem_fraction_static: float | None = None
    cuda_memory_fraction: float | None = None
    kv_cache_free_fraction: float | None = None
    max_total_tokens: int | None = None  # SGLang pool cap; TGI longest request
    max_batch_prefill_tokens: int | None = None
    max_num_batched_tokens: int | None = None
    kv_cache_memory_bytes: int | None = None
    cpu_offload_gb: float | None = None
    enforce_eager: bool = False
    fail_fast: bool = False
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EngineMemory:
    engine: str
    total_bytes: int  # one GPU
    weights_bytes: int  # whole model
    weights_per_gpu: int
    overhead_per_gpu: int  # activations + graphs + non-torch (+ context where the engine counts it)
    budget_bytes: int  # what the engine's rule lets weights + overhead + KV use on one GPU
    kv_pool_bytes: int  # per GPU (<= 0: none)
    kv_per_token: int  # per GPU
    context: int  # tokens of the longest sequence
    context_from: str
    one_seq_bytes: int  # KV of one context-length sequence on one GPU
    pool_tokens: int
    seqs_held: int
    seqs_asked: int | None
    need_bytes: int  # weights + overhead + one sequence, per GPU: the least the engine needs to start
    starts: bool
    problem: str | None  # why it will not start
    limit: str | None  # started, but shortened (SGLang caps requests, TRT-LLM clamps the window)
    explain: tuple[str, ...] = field(default=(), compare=False)

    @property
    def fits(self) -> bool:
        """It starts (memory-wise)."""
        return self.starts

    @property
    def per_gpu_bytes(self) -> int:
        return self.need_bytes

    @property
    def capacity_bytes_per_gpu(self) -> int:
        return self.budget_bytes


def kv_per_token(spec: ModelSpec, engine: str, tp: int, pp: int, kv_dtype: str | None, dtype: str) -> int:
    """KV bytes per token on one GPU: each engine splits KV heads over TP its own way."""
    width = _kv_bytes(kv_dtype, dtype)
    layers = -(-spec.attention_layers // max(pp, 1))  # linear-attention layers keep no per-token KV
    if spec.is_mla:  # one latent per token per layer, on every TP rank
        return int(layers * (spec.kv_lora_rank + spec.qk_rope_head_dim) * width)
    if engine == "trtllm":  # head_dim × kv_heads / tp as one product (_util.py:72-84)
        return int(2 * layers * spec.kv_heads * spec.head_dim * width / max(tp, 1))
    heads = spec.kv_heads // max(tp, 1) if engine == "tgi" else max(1, spec.kv_heads // max(tp, 1))
    return int(2 * layers * heads * spec.head_dim * width)


def _kv_bytes(kv_dtype: str | None, dtype: str) -> float:
    if kv_dtype and str(kv_dtype).lower().startswith(("fp8", "float8", "int8", "mxfp8")):
        return 1.0
    if kv_dtype and str(kv_dtype).lower() in ("fp4", "nvfp4", "fp4_mx_block16"):
        return 0.5625
    return 4.0 if dtype == "fp32" else 2.0


def sglang_fraction(total_mib: int, tp: int, pp: int, mla: bool) -> tuple[float, str]:
    """SGLang v0.5.23's default mem_fraction_static (python/sglang/srt/arg_groups/memory_hook.py:281-343)."""
    g = total_mib / 1024
    chunk = 2048 if g < 20 else 4096 if g < 60 else 8192 if g < 160 else 16384
    max_bs = 8 if g < 20 else (48 if tp < 4 else 160) if g < 35 else (32 if tp < 4 else 160) if g < 60 else (
        256 if tp < 4 else 512) if g < 160 else 512
    captures = {2048: 43, 4096: 50}.get(chunk, 65)  # prefill CUDA-graph sizes up to the chunk (65 at 8192)
    graphs = 2 * max_bs + (1536 if mla else 8 * captures)
    reserved = 512 + 1.5 * max(chunk, 2048) + tp * pp / 8 * 1024 + graphs
    if g > 60:
        reserved = max(reserved, 10240)
    f = round((total_mib - reserved) / total_mib, 3)
    return f, (f"default mem_fraction_static = (memory − reserved {reserved:.0f} MiB) / memory = {f:g} "
               "(memory_hook.py:299-325)")


def _context(spec: ModelSpec, k: Knobs) -> tuple[int, str]:
    if k.engine == "tgi" and k.max_total_tokens:
        return k.max_total_tokens, "--max-total-tokens"
    if k.max_model_len:
        return k.max_model_len, {"vllm": "max_model_len", "sglang": "context_length", "tgi": "max_model_len",
                                 "trtllm": "max_seq_len"}.get(k.engine, "max_model_len")
    return spec.max_context, "the model's max_position_embeddings (no length set)"


@lru_cache(maxsize=4096)  # a pure function of frozen values; a fleet repeats the same few configurations
def engine_memory(spec: ModelSpec, k: Knobs, total_mib: int) -> EngineMemory:
    """One GPU of this deployment under its engine's rule (see the module docstring)."""
    engine = k.engine if k.engine in SOURCES else "vllm"
    total = total_mib * MIB
    tp, pp = max(k.tp, 1), max(k.pp, 1)
    w, wtext = weight_bytes(spec, k.dtype)
    per_gpu_w = int(w / (tp * pp))
    lines = [wtext, f"weights per GPU: {gib(w)} / (TP={tp} × PP={pp}) = {gib(per_gpu_w)}"]
    if engine == "vllm" and k.cpu_offload_gb:
        per_gpu_w = max(0, per_gpu_w - int(k.cpu_offload_gb * GIB))
        lines.append(f"--cpu-offload-gb {k.cpu_offload_gb:g}: {gib(per_gpu_w)} of weights stay on the GPU")
    per_tok = kv_per_token(spec, engine, tp, pp, k.kv_dtype, normalize_dtype(k.dtype))
    context, ctx_from = _context(spec, k)
    lines.append(_kv_shape(spec, engine, tp, pp, per_tok, k))
    rule = {"vllm": _vllm, "sglang": _sglang, "tgi": _tgi, "trtllm": _trtllm}[engine]
    budget, overhead, pool, problem, rule_lines = rule(spec, k, total, per_gpu_w, tp, pp)
    lines += rule_lines
    if engine == "sglang" and k.max_total_tokens and pool > k.max_total_tokens * per_tok:
        pool = k.max_total_tokens * per_tok
        lines.append(f"--max-total-tokens {k.max_total_tokens} caps the pool at {gib(pool)}")
    tokens = max(pool, 0) // per_tok if per_tok else 0
    one = -(-context // BLOCK) * BLOCK * per_tok if engine == "vllm" else context * per_tok
    held = tokens // context if context else 0
    lines.append(f"KV pool per GPU {gib(max(pool, 0))} = {tokens:,} tokens = {held:,} sequence(s) of {context:,} "
                 f"tokens ({ctx_from}); one such sequence needs {gib(one)} per GPU")
    problem, limit = _verdict(engine, k, spec, tp, pool, one, tokens, context, problem)
    if problem is not None and pool <= 0 and "leave no memory" in problem:
        used = f"weights {gib(per_gpu_w)}" + ("" if engine == "sglang" else f" + overhead {gib(overhead)}")
        problem = f"{used} per GPU leave no memory for the KV cache in the {gib(budget)} {_BUDGET[engine]}"
    asked = k.max_num_seqs
    if asked:
        lines.append(f"concurrency asked: {asked:,} sequences; the pool holds {held:,} of full length")
    lines.append(("→ starts" if problem is None else f"→ does NOT start: {problem}") + f" [{SOURCES[engine]}]")
    return EngineMemory(engine, total, w, per_gpu_w, overhead, budget, pool, per_tok, context, ctx_from, one, tokens,
                        held, asked, per_gpu_w + overhead + one, problem is None, problem, limit, tuple(lines))


def _kv_shape(spec: ModelSpec, engine: str, tp: int, pp: int, per_tok: int, k: Knobs) -> str:
    width = _kv_bytes(k.kv_dtype, normalize_dtype(k.dtype))
    if spec.is_mla:
        shape = (f"{spec.attention_layers} layers / PP {pp} × ({spec.kv_lora_rank}+{spec.qk_rope_head_dim}) latent, "
                 "not split by TP")
    elif engine == "tgi":
        shape = (f"2 × {spec.attention_layers} layers / PP {pp} × ({spec.kv_heads} KV heads // TP {tp}) × "
                 f"{spec.head_dim}")
    else:
        shape = (f"2 × {spec.attention_layers} layers / PP {pp} × max(1, {spec.kv_heads} KV heads / TP {tp}) × "
                 f"{spec.head_dim}")
    return f"KV per token per GPU: {shape} × {width:g} B = {per_tok / 1024:.1f} KiB"


def _act(spec: ModelSpec, tp: int, tokens: int) -> int:
    return activation_bytes(spec, tp, tokens)


def _vllm(spec: ModelSpec, k: Knobs, total: int, w: int, tp: int, pp: int) -> tuple[int, int, int, str | None,
                                                                                    list[str]]:
    util = k.gpu_memory_utilization or 0.9
    batched = k.max_num_batched_tokens or (8192 if total >= 70 * GIB else 2048)
    act = _act(spec, tp, batched)
    graphs = 0 if k.enforce_eager else GRAPH_BYTES
    nccl = NCCL_BYTES if tp * pp > 1 else 0
    overhead = act + graphs + nccl
    budget = int(total * util)
    default = "" if k.gpu_memory_utilization else " (the default; 0.92 in v0.33)"
    lines = [f"vLLM budget: gpu_memory_utilization {util:g}{default} × {gib(total)} = {gib(budget)}",
             f"overhead: activations of {batched} batched tokens {gib(act)} + CUDA graphs {gib(graphs)}"
             f"{' (--enforce-eager)' if k.enforce_eager else ''} + NCCL {gib(nccl)} = {gib(overhead)}"]
    if k.kv_cache_memory_bytes:
        pool = k.kv_cache_memory_bytes
        lines.append(f"--kv-cache-memory-bytes: KV is {gib(pool)} per GPU (utilization ignored)")
        problem = None if w + overhead + pool + CONTEXT_BYTES <= total else (
            f"weights {gib(w)} + overhead {gib(overhead)} + KV {gib(pool)} exceed the GPU's {gib(total)}")
        return total, overhead, pool, problem, lines
    pool = budget - w - overhead
    lines.append(f"KV = {gib(budget)} − weights {gib(w)} − overhead {gib(overhead)} = {gib(pool)}")
    return budget, overhead, pool, None, lines


def _sglang(spec: ModelSpec, k: Knobs, total: int, w: int, tp: int, pp: int) -> tuple[int, int, int, str | None,
                                                                                      list[str]]:
    f, why = (k.mem_fraction_static, "") if k.mem_fraction_static else sglang_fraction(total // MIB, tp, pp,
                                                                                        spec.is_mla)
    free = total - CONTEXT_BYTES
    budget = int(free * f)
    pool = budget - w
    lines = ([why] if why else []) + [
        f"SGLang: weights + KV pool = mem_fraction_static {f:g} × free memory {gib(free)} = {gib(budget)}; "
        f"activations and CUDA graphs live in the remaining {gib(free - budget)}",
        f"KV pool = {gib(budget)} − weights {gib(w)} = {gib(pool)}"]
    return budget, free - budget, pool, None, lines


def _tgi(spec: ModelSpec, k: Knobs, total: int, w: int, tp: int, pp: int) -> tuple[int, int, int, str | None,
                                                                                   list[str]]:
    wiggle = float(dict(k.env).get("TGI_WIGGLE_ROOM", "0.9") or 0.9)
    f = (k.cuda_memory_fraction or 1.0) * wiggle
    prefill = k.max_batch_prefill_tokens or 4096
    act = _act(spec, tp, prefill)
    nccl = NCCL_BYTES if tp > 1 else 0
    overhead = act + nccl + CONTEXT_BYTES
    budget = int(total * f)
    pool = budget - w - overhead
    lines = [f"TGI: CUDA_MEMORY_FRACTION {k.cuda_memory_fraction or 1.0:g} × wiggle room {wiggle:g} × {gib(total)} = "
             f"{gib(budget)}",
             f"overhead: prefill of {prefill} tokens {gib(act)} + NCCL {gib(nccl)} + CUDA context "
             f"{gib(CONTEXT_BYTES)} = {gib(overhead)}",
             f"KV = {gib(budget)} − weights {gib(w)} − overhead {gib(overhead)} = {gib(pool)}"]
    return budget, overhead, pool, None, lines


def _trtllm(spec: ModelSpec, k: Knobs, total: int, w: int, tp: int, pp: int) -> tuple[int, int, int, str | None,
                                                                                      list[str]]:
    fraction = k.kv_cache_free_fraction or 0.9
    tokens = k.max_num_batched_tokens or 8192
    act = _act(spec, tp, tokens)
    overhead = act + GRAPH_BYTES + CONTEXT_BYTES + (NCCL_BYTES if tp * pp > 1 else 0)
    free = total - w - overhead
    pool = int(free * fraction) if free > 0 else free
    lines = [f"TensorRT-LLM: peak after load = weights {gib(w)} + max_num_tokens {tokens} activations and buffers "
             f"{gib(overhead)}; free {gib(free)}",
             f"KV = kv_cache_free_gpu_memory_fraction {fraction:g} × {gib(max(free, 0))} = {gib(max(pool, 0))}"]
    return total, overhead, pool, None, lines


_BUDGET = {"vllm": "gpu_memory_utilization gives it", "sglang": "mem_fraction_static gives weights and KV",
           "tgi": "CUDA_MEMORY_FRACTION × 0.9 gives it", "trtllm": "of the GPU"}


def _verdict(engine: str, k: Knobs, spec: ModelSpec, tp: int, pool: int, one: int, tokens: int, context: int,
             problem: str | None) -> tuple[str | None, str | None]:
    """(why it will not start, how it limits itself instead) under the engine's own refusal rule."""
    if problem is not None:
        return problem, None
    if engine == "tgi" and not spec.is_mla and spec.kv_heads > 1 and tp > spec.kv_heads:
        return f"--num-shard {tp} splits {spec.kv_heads} KV heads into 0 per shard (TGI asserts)", None
    if pool <= 0:
        what = {"vllm": "gpu_memory_utilization", "sglang": "mem_fraction_static", "tgi": "CUDA_MEMORY_FRACTION",
                "trtllm": "GPU memory"}[engine]
        return f"the weights and overheads leave no memory for the KV cache under {what}", None
    if engine == "vllm" and one > pool:
        return (f"one {context:,}-token sequence needs {gib(one)} of KV per GPU and only {gib(pool)} is left "
                f"(vLLM stops: max length that fits ≈ {tokens:,} tokens)"), None
    if engine == "tgi" and k.max_total_tokens and k.max_total_tokens > tokens:
        return f"--max-total-tokens {k.max_total_tokens:,} exceeds the {tokens:,} tokens the KV blocks hold", None
    if engine == "sglang" and tokens < context:
        return None, f"the KV pool holds {tokens:,} tokens, fewer than context_length {context:,}: SGLang caps " \
                     f"each request at {max(tokens - 1, 0):,}"
    if engine == "trtllm" and one > pool:
        if k.fail_fast:
            return (f"one {context:,}-token sequence does not fit the {tokens:,}-token KV pool "
                    "(--fail_fast_on_attention_window_too_large)"), None
        return None, f"one {context:,}-token sequence does not fit the {tokens:,}-token KV pool: TensorRT-LLM " \
                     "shortens the attention window"
    return None, None
