"""A deployment's memory on its node under its engine's own rule (`llm/kvrules.py`): will it start, how many
full-length sequences its KV pool holds, the least TP at which it would start, and whether its context
length is one the engine accepts for this model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.llm import kvrules, models
from tpdoctor.llm.kvrules import EngineMemory, Knobs
from tpdoctor.model.deployment import Deployment

_LONG_OK = {"vllm": "VLLM_ALLOW_LONG_MAX_MODEL_LEN", "sglang": "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"}
_ROPE_FLAGS = ("rope", "hf-overrides", "hf_overrides")
_FRACTION = {"sglang": "mem_fraction_static", "tgi": "cuda_memory_fraction", "trtllm": "kv_cache_free_fraction"}


@dataclass(frozen=True)
class MemoryAssessment:
    now: EngineMemory
    tp1: EngineMemory | None  # the same settings at TP=1 (for TP-unneeded advice)
    min_tp: int | None  # smallest power-of-two TP (× PP) at which it starts; None: none up to 64
    context_problem: str | None  # a length the engine refuses for this model


def knobs(dep: Deployment, dtype: str, tp: int | None = None, notes: list[str] | None = None) -> Knobs:
    """The engine's memory settings from a deployment (job.yaml's gpu_memory_utilization is the engine's own
    fraction: SGLang's mem_fraction_static, TGI's CUDA_MEMORY_FRACTION, TensorRT-LLM's KV fraction)."""
    fractions = {"mem_fraction_static": dep.mem_fraction_static, "cuda_memory_fraction": dep.cuda_memory_fraction,
                 "kv_cache_free_fraction": dep.kv_cache_free_fraction}
    own = _FRACTION.get(dep.engine)
    util = dep.gpu_memory_utilization
    if own and fractions[own] is None and util is not None:
        fractions[own] = util
        util = None
        if notes is not None:
            notes.append(f"gpu_memory_utilization {dep.gpu_memory_utilization:g} read as {dep.engine}'s {own}")
    return Knobs(engine=dep.engine, dtype=dtype, kv_dtype=dep.kv_cache_dtype, tp=tp or dep.tp, pp=dep.pp,
                 max_model_len=dep.max_model_len, max_num_seqs=dep.max_num_seqs, gpu_memory_utilization=util,
                 max_total_tokens=dep.max_total_tokens, max_batch_prefill_tokens=dep.max_batch_prefill_tokens,
                 max_num_batched_tokens=dep.max_num_batched_tokens, kv_cache_memory_bytes=dep.kv_cache_memory_bytes,
                 cpu_offload_gb=dep.cpu_offload_gb, enforce_eager=dep.enforce_eager, fail_fast=dep.fail_fast,
                 env=tuple(sorted(dep.env.items())), **fractions)


def context_problem(dep: Deployment, spec: models.ModelSpec) -> str | None:
    """vLLM and SGLang refuse a length above the model's config unless their override variable is set."""
    length = dep.max_model_len
    flag = _LONG_OK.get(dep.engine)
    if flag is None or not length or length <= spec.max_context:
        return None
    if dep.env.get(flag, "").strip() in ("1", "true", "True") or any(
            f in " ".join(dep.notes + tuple(dep.origins)) for f in _ROPE_FLAGS):
        return None
    what = "--max-model-len" if dep.engine == "vllm" else "--context-length"
    return (f"{what} {length:,} is longer than {spec.name}'s {spec.max_context:,} tokens (max_position_embeddings): "
            f"{'vLLM' if dep.engine == 'vllm' else 'SGLang'} refuses it unless {flag}=1")


def assess(dep: Deployment, spec: models.ModelSpec, dtype: str, memory_mib: int, max_tp: int = 64,
           notes: list[str] | None = None) -> MemoryAssessment:
    k = knobs(dep, dtype, notes=notes)
    now = kvrules.engine_memory(spec, k, memory_mib)
    tp1 = kvrules.engine_memory(spec, knobs(dep, dtype, tp=1), memory_mib) if dep.tp > 1 else now
    min_tp: int | None = None
    tp = 1
    while tp <= max_tp:
        trial = now if tp == dep.tp else tp1 if tp == 1 and tp1 is not None else kvrules.engine_memory(
            spec, knobs(dep, dtype, tp=tp), memory_mib)
        if trial.starts:
            min_tp = tp
            break
        tp *= 2
    return MemoryAssessment(now, tp1, min_tp, context_problem(dep, spec))
