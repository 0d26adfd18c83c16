"""Each engine's KV-cache rule (llm/kvrules.py) against the engines' own arithmetic, read in their source:
KV heads per rank (vLLM replicates, TGI divides to zero, TensorRT-LLM divides the product), SGLang's default
mem_fraction_static, and the start-up refusals that separate "will not start" from "holds fewer sequences"."""

from __future__ import annotations

import pytest

from tpdoctor.llm import kvrules, models
from tpdoctor.llm.kvrules import Knobs, engine_memory, kv_per_token

H100_MIB = 81559  # nvidia-smi memory.total of an H100 80GB HBM3


def spec(name: str) -> models.ModelSpec:
    s = models.lookup(name)
    assert s is not None
    return s


@pytest.mark.parametrize("engine,tp,per_gpu", [
    ("vllm", 4, 81920), ("vllm", 8, 40960), ("vllm", 16, 40960),  # 8 KV heads: TP16 replicates (model.py:1663)
    ("tgi", 8, 40960), ("tgi", 16, 0),  # TGI: 8 // 16 = 0 heads per shard (flash_causal_lm.py:1291-1296)
    ("trtllm", 16, 20480),  # head_dim × kv_heads // TP as one product (_util.py:72-84)
])
def test_llama70b_kv_per_token_per_gpu(engine: str, tp: int, per_gpu: int) -> None:
    # kv-rules.md worked example: 2 × 80 layers × 8 KV heads × 128 × 2 B = 327,680 B for the whole model
    assert kv_per_token(spec("llama-3.1-70b"), engine, 1, 1, None, "bf16") == 327680
    assert kv_per_token(spec("llama-3.1-70b"), engine, tp, 1, None, "bf16") == per_gpu


def test_mla_latent_is_not_split_by_tp() -> None:
    # DeepSeek-V3 bf16: 61 layers × (512 + 64) × 2 B = 70,272 B per token on EVERY GPU
    for tp in (1, 8):
        assert kv_per_token(spec("deepseek-v3"), "vllm", tp, 1, None, "bf16") == 70272
    assert kv_per_token(spec("deepseek-v3"), "vllm", 8, 1, "fp8", "bf16") == 35136


@pytest.mark.parametrize("mib,row", [
    (15360, (0.735, 0.727, 0.710, 0.677)), (40960, (0.823, 0.820, 0.807, 0.795)),
    (81559, (0.830, 0.828, 0.819, 0.812)), (143771, (0.903, 0.902, 0.897, 0.893)),
    (183359, (0.854, 0.853, 0.852, 0.849)),
])
def test_sglang_default_mem_fraction_static(mib: int, row: tuple[float, ...]) -> None:
    """SGLang v0.5.23's formula (memory_hook.py:281-343) against the research table (T4, A100-40G, H100, H200,
    B200 at TP 1, 2, 4, 8)."""
    got = [kvrules.sglang_fraction(mib, tp, 1, False)[0] for tp in (1, 2, 4, 8)]
    assert got == pytest.approx(list(row), abs=0.0015)


def test_vllm_refuses_when_one_max_len_sequence_does_not_fit() -> None:
    """Qwen3-32B bf16 on one H100 at vLLM's 0.90: 71.7 GiB − 61.0 GiB weights − overhead leaves < 10 GiB, and
    one 40,960-token sequence needs 10 GiB (kv_cache_planning.py:65-86)."""
    m = engine_memory(spec("qwen3-32b"), Knobs("vllm", "bf16"), H100_MIB)
    assert not m.starts and m.problem is not None and "one 40,960-token sequence" in m.problem
    shorter = engine_memory(spec("qwen3-32b"), Knobs("vllm", "bf16", max_model_len=32768), H100_MIB)
    assert shorter.starts and shorter.seqs_held == 1


def test_max_num_seqs_reserves_nothing_it_is_a_concurrency_the_pool_may_not_hold() -> None:
    """The issue's false CRITICAL: a 32B FP8 model at context 32768 × 256 requests is not 2048 GiB of KV. The
    engine starts; its pool holds some number of full-length sequences, and that number is the warning."""
    for engine in ("vllm", "sglang"):
        m = engine_memory(spec("qwen3-32b"), Knobs(engine, "fp8", max_model_len=32768, max_num_seqs=256), H100_MIB)
        assert m.starts, m.problem
        assert 0 < m.seqs_held < 256 and m.seqs_asked == 256


def test_sglang_refuses_only_when_weights_leave_nothing_and_caps_a_short_pool() -> None:
    dsv3 = engine_memory(spec("deepseek-v3"), Knobs("sglang", "fp8", tp=8, mem_fraction_static=0.9), H100_MIB)
    assert not dsv3.starts and "mem_fraction_static" in (dsv3.problem or "")
    short = engine_memory(spec("llama-3.1-70b"), Knobs("sglang", "fp8", tp=2, mem_fraction_static=0.5), H100_MIB)
    assert short.starts and short.limit is not None and "caps each request" in short.limit


def test_tgi_refuses_more_shards_than_kv_heads_and_a_max_total_tokens_beyond_its_blocks() -> None:
    assert not engine_memory(spec("llama-3.1-8b"), Knobs("tgi", "bf16", tp=16), H100_MIB).starts
    m = engine_memory(spec("llama-3.1-70b"), Knobs("tgi", "int4", tp=2, max_total_tokens=4_000_000), H100_MIB)
    assert not m.starts and "--max-total-tokens" in (m.problem or "")
    ok = engine_memory(spec("llama-3.1-70b"), Knobs("tgi", "int4", tp=2, max_total_tokens=8192), H100_MIB)
    assert ok.starts and ok.context == 8192


def test_trtllm_clamps_the_window_unless_fail_fast() -> None:
    k = dict(tp=2, kv_cache_free_fraction=0.05, max_model_len=131072)
    clamp = engine_memory(spec("llama-3.1-70b"), Knobs("trtllm", "fp8", **k), H100_MIB)  # type: ignore[arg-type]
    assert clamp.starts and "attention window" in (clamp.limit or "")
    strict = engine_memory(spec("llama-3.1-70b"), Knobs("trtllm", "fp8", fail_fast=True, **k), H100_MIB)  # type: ignore[arg-type]
    assert not strict.starts


def test_every_explanation_cites_the_engine_source() -> None:
    for engine in ("vllm", "sglang", "tgi", "trtllm"):
        m = engine_memory(spec("llama-3.1-8b"), Knobs(engine, "bf16"), H100_MIB)
        assert kvrules.SOURCES[engine] in m.explain[-1]
        assert any("KV per token per GPU" in line for line in m.explain)
