"""Memory per GPU: weights by dtype, KV cache, overhead, fit."""

from __future__ import annotations

import pytest

from tpdoctor.llm import models, sizing


def spec(name: str) -> models.ModelSpec:
    s = models.lookup(name)
    assert s is not None
    return s


@pytest.mark.parametrize("dtype,gb", [("fp32", 32.1), ("bf16", 16.06), ("fp16", 16.06), ("fp8", 9.01),
                                      ("int8", 9.01), ("int4", 5.81), ("awq", 5.81), ("gptq", 5.81)])
def test_weight_bytes_by_dtype(dtype: str, gb: float) -> None:
    total, text = sizing.weight_bytes(spec("llama-3.1-8b"), dtype)
    assert total / 1e9 == pytest.approx(gb, rel=0.01)
    assert dtype in text


def test_dtype_aliases() -> None:
    assert sizing.normalize_dtype("bfloat16") == "bf16"
    assert sizing.normalize_dtype("auto") == "bf16"
    assert sizing.normalize_dtype("awq_marlin") == "awq"
    with pytest.raises(ValueError, match="unknown dtype"):
        sizing.normalize_dtype("fp3")


def test_kv_cache_is_context_times_sequences() -> None:
    s = spec("llama-3.1-70b")
    per_tok = sizing.kv_bytes_per_token(s)
    assert per_tok == 2 * 80 * 8 * 128 * 2  # 320 KiB
    est = sizing.estimate(s, dtype="bf16", tp=4, max_model_len=8192, max_num_seqs=16)
    assert est.kv_bytes == per_tok * 8192 * 16
    assert est.kv_tokens == 8192 * 16


def test_canonical_model_fits_one_h100_nvl() -> None:
    est = sizing.estimate(spec("qwen35-27b"), dtype="fp8", tp=1, max_model_len=16384, max_num_seqs=8,
                          gpu_memory_mib=95830)
    assert est.weights_bytes / 1e9 == pytest.approx(28.5, abs=0.1)
    assert est.fits is True
    assert any("0.9 utilization" in line for line in est.explain)


def test_405b_bf16_does_not_fit_eight_h100() -> None:
    est = sizing.estimate(spec("llama-3.1-405b"), dtype="bf16", tp=8, max_model_len=8192, gpu_memory_mib=81559)
    assert est.fits is False
    assert sizing.min_tp_that_fits(spec("llama-3.1-405b"), dtype="bf16", gpu_memory_mib=81559, max_tp=64,
                                   max_model_len=8192) == 16


def test_tp_beyond_kv_heads_replicates_kv() -> None:
    s = spec("qwen3-30b-a3b")  # 4 KV heads
    e4 = sizing.estimate(s, dtype="bf16", tp=4, max_model_len=32768)
    e8 = sizing.estimate(s, dtype="bf16", tp=8, max_model_len=32768)
    kv4 = e4.per_gpu_bytes - e4.weights_bytes / 4 - e4.overhead_bytes_per_gpu
    kv8 = e8.per_gpu_bytes - e8.weights_bytes / 8 - e8.overhead_bytes_per_gpu
    assert kv8 == pytest.approx(kv4, rel=0.01)
