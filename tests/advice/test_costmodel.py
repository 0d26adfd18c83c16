"""Cost model: each term of a decode step behaves as its physics says, and predict() puts them together."""

from __future__ import annotations

import pytest

from tpdoctor.advice import collectives, costmodel, decode, engines, hardware, quant
from tpdoctor.advice.params import P
from tpdoctor.llm import models
from tpdoctor.model import skus

H100NVL = skus.by_key("h100-nvl")
H100 = skus.by_key("h100-sxm")
A100 = skus.by_key("a100-sxm")
QWEN = models.lookup("qwen35-27b")
L8B = models.lookup("llama-3.1-8b")
L70B = models.lookup("llama-3.1-70b")


def gpu(key: str) -> hardware.GpuPerf:
    sku = skus.by_key(key)
    assert sku is not None
    return hardware.perf(sku)


def step(spec: models.ModelSpec | None, **kw: object) -> decode.Step:
    assert spec is not None
    kw.setdefault("fmt", "bf16")
    kw.setdefault("gpu", gpu("h100-sxm"))
    kw.setdefault("tp", 1)
    return decode.step(spec, **kw)  # type: ignore[arg-type]


# --- collectives -----------------------------------------------------------------------------------------

def test_nccl_latency_follows_path_class_and_group_size() -> None:
    lat = [collectives.nccl_latency_us(p, 8) for p in ("NV18", "PIX", "PHB", "SYS")]
    assert lat == sorted(lat) and lat[0] < lat[-1]
    assert collectives.nccl_latency_us("NV18", 8) > collectives.nccl_latency_us("NV18", 2)
    # base + 2(n-1) hops: NCCL's ring shape (tuning.cc), hop 0.6 µs on NVLink
    assert collectives.nccl_latency_us("NV18", 8) - collectives.nccl_latency_us("NV18", 2) == pytest.approx(12 * 0.6)
    assert collectives.nccl_latency_us("NET", 16) == P.net_latency_us


def test_custom_allreduce_needs_nvlink_or_a_p2p_pair() -> None:
    assert collectives.custom_possible("NV14", 8)
    assert collectives.custom_possible("PIX", 2) and not collectives.custom_possible("PIX", 4)
    assert not collectives.custom_possible("NODE", 2)
    nv = collectives.allreduce(8, 16384, "NV18", 360.0, custom=True, arch="hopper")
    pcie = collectives.allreduce(8, 16384, "SYS", 20.0, custom=True, arch="hopper")
    assert (nv.impl, pcie.impl) == ("custom", "nccl") and nv.us < pcie.us / 5


def test_ring_crossing_sockets_twice_pays_the_weak_hop_on_two_steps_only() -> None:
    whole = collectives.nccl_latency_us("SYS", 8)
    split = collectives.nccl_latency_us("SYS", 8, local="NODE")
    hops = P.nccl_hop_us
    kinds = costmodel.path_kind
    expected = P.nccl_base_us + 14 * (2 / 8 * hops[kinds("SYS")] + 6 / 8 * hops[kinds("NODE")])
    assert split == pytest.approx(expected) and split < whole


def test_bandwidth_term_uses_the_measured_busbw_for_large_messages() -> None:
    fast = collectives.allreduce(2, 4 << 20, "NV12", 200.0, custom=True)
    slow = collectives.allreduce(2, 4 << 20, "NV12", 5.0, custom=True)
    assert slow.us - fast.us == pytest.approx((4 << 20) * (1 / 5e9 - 1 / 200e9) * 1e6)


# --- one decode step -------------------------------------------------------------------------------------

def test_memory_bound_weights_split_with_tp_but_the_fixed_cost_does_not() -> None:
    one, eight = step(L70B, tp=1), step(L70B, tp=8, link=decode.Link("NV18", 360.0, "nominal"))
    assert eight.weights_ms == pytest.approx(one.weights_ms / 8, rel=0.05)
    assert eight.fixed_ms == pytest.approx(one.fixed_ms + P.tp_step_us * engines.DEFAULT.tp_broadcast / 1e3)
    assert one.fixed_ms == pytest.approx((80 * P.layer_us + P.step_us_python) / 1e3)
    assert eight.collectives == 160 and one.collectives == 0
    assert one.weights_ms == pytest.approx(one.weight_bytes / (3.35e12 * P.hbm_efficiency) * 1e3)


def test_kv_heads_are_replicated_beyond_their_count() -> None:
    assert L8B is not None and L8B.kv_heads == 8
    s8 = step(L8B, tp=8, link=decode.Link("NV18", 360.0, "nominal"), context=4096)
    s16 = step(L8B, tp=16, link=decode.Link("NV18", 360.0, "nominal"), context=4096)
    assert s16.kv_bytes == pytest.approx(s8.kv_bytes)  # 8 KV heads: 16 GPUs hold 8 copies' worth each


def test_moe_reads_the_experts_the_batch_routes_to() -> None:
    moe = models.lookup("qwen3-30b-a3b")
    assert moe is not None
    assert decode.distinct_experts(moe, 1) == pytest.approx(8)
    assert decode.distinct_experts(moe, 512) == pytest.approx(128, rel=0.01)
    one, many = step(moe, batch=1), step(moe, batch=256)
    assert many.weight_bytes > 5 * one.weight_bytes


def test_weight_formats_and_their_dequantisation_cost() -> None:
    bf16, fp8 = step(L8B, fmt="bf16"), step(L8B, fmt="fp8")
    assert fp8.weights_ms < 0.65 * bf16.weights_ms  # linear layers halve, the LM head stays 16-bit
    torch_int4 = step(L8B, fmt="int4", eng=engines.Engine("x", weight_only_kernel="torch"))
    fused_int4 = step(L8B, fmt="int4")
    assert torch_int4.weights_ms == pytest.approx(fused_int4.weights_ms / P.int4_torch_eff)
    assert quant.fmt("nvfp4").bytes_per_param == pytest.approx(0.5625)
    assert quant.normalize("awq_marlin") == "awq" and quant.normalize("NVFP4") == "nvfp4"
    with pytest.raises(ValueError):
        quant.normalize("int3")


def test_fp8_runs_natively_on_hopper_and_dequantised_on_ampere() -> None:
    hopper = gpu("h100-sxm")
    ampere = gpu("a100-sxm")
    assert hopper.has_native("fp8") and not ampere.has_native("fp8")
    assert hopper.peak_tflops("fp8") == 1979 and ampere.peak_tflops("fp8") == 312


def test_compute_bound_crossover_depends_on_the_sku() -> None:
    """bf16 weights turn compute-bound at B* = peak × η_mm / (HBM × η) streams: A100 312 TFLOP/s on 2.04 TB/s
    ≈ 128, H100 989 on 3.35 ≈ 247 — so at 200 streams an A100 is compute-bound and an H100 is not."""
    def crossover(key: str) -> float:
        g = gpu(key)
        return g.tflops["bf16"] * P.matmul_efficiency / (g.hbm_tbps * P.hbm_efficiency)

    assert crossover("a100-sxm") == pytest.approx(128, rel=0.02)
    assert crossover("h100-sxm") == pytest.approx(247, rel=0.02)
    assert step(L8B, batch=200, gpu=gpu("a100-sxm")).compute_bound
    assert not step(L8B, batch=200, gpu=gpu("h100-sxm")).compute_bound
    assert step(L8B, batch=16).compute_ms == pytest.approx(step(L8B, batch=1).compute_ms * 16)


def test_eager_engines_have_a_host_floor() -> None:
    graphs = step(L8B, tp=8, link=decode.Link("NV18", 360.0, "nominal"))
    eager = step(L8B, tp=8, link=decode.Link("NV18", 360.0, "nominal"), eng=engines.engine("vllm", eager=True))
    assert eager.host_ms == pytest.approx(32 * P.eager_layer_us / 1e3)
    assert eager.step_ms == pytest.approx(max(graphs.step_ms, eager.host_ms))


def test_serving_prefill_folds_prompt_math_into_decode_steps() -> None:
    plain = step(L70B, tp=2, batch=25, fmt="fp8", link=decode.Link("NV18", 360.0, "nominal"))
    busy = step(L70B, tp=2, batch=25, fmt="fp8", link=decode.Link("NV18", 360.0, "nominal"), prefill_tokens=240)
    assert busy.compute_ms > plain.compute_ms and busy.weights_ms == plain.weights_ms


# --- predict ---------------------------------------------------------------------------------------------

def test_canonical_pcie_costs_more_than_nvlink() -> None:
    assert QWEN is not None and H100NVL is not None
    kw = dict(dtype="fp8", sku=H100NVL)
    nv = costmodel.predict(QWEN, tp=2, path=costmodel.nominal_path("NV12", H100NVL), **kw)  # type: ignore[arg-type]
    pcie = costmodel.predict(QWEN, tp=2, path=costmodel.nominal_path("NODE", H100NVL), **kw)  # type: ignore[arg-type]
    assert pcie.allreduce_ms_per_token > 5 * nv.allreduce_ms_per_token
    assert (nv.allreduce_impl, pcie.allreduce_impl) == ("custom", "nccl")
    assert nv.allreduce_bytes == 5120 * 2  # batch 1 × hidden × bf16
    assert 128 * nv.allreduce_us / 1e3 == pytest.approx(nv.allreduce_ms_per_token)
    assert nv.per_token_ms == pytest.approx(nv.compute_ms_per_token + nv.allreduce_ms_per_token)


def test_replicas_win_throughput_only_once_tp_overheads_outweigh_the_weight_reads() -> None:
    """At equal concurrency a healthy TP=2 group reads half the weights per token, so it beats two TP=1 replicas
    at 8 streams; over a broken pair (NCCL over NODE) the replicas win."""
    assert QWEN is not None and H100NVL is not None
    kw = dict(dtype="fp8", sku=H100NVL)
    nv = costmodel.predict(QWEN, tp=2, batch=8, path=costmodel.nominal_path("NV12", H100NVL), **kw)  # type: ignore[arg-type]
    node = costmodel.predict(QWEN, tp=2, batch=8, path=costmodel.nominal_path("NODE", H100NVL), **kw)  # type: ignore[arg-type]
    rep = costmodel.predict(QWEN, tp=1, batch=4, replicas=2, path=None, **kw)  # type: ignore[arg-type]
    assert nv.tokens_per_s_total > rep.tokens_per_s_total > node.tokens_per_s_total


def test_measured_busbw_is_used() -> None:
    assert QWEN is not None and H100NVL is not None
    slow = costmodel.predict(QWEN, tp=2, dtype="fp8", sku=H100NVL, batch=64, path=costmodel.measured_path("NV12", 5.0))
    fast = costmodel.predict(QWEN, tp=2, dtype="fp8", sku=H100NVL, batch=64,
                             path=costmodel.nominal_path("NV12", H100NVL))
    assert slow.bw_source == "measured" and slow.allreduce_us > 2 * fast.allreduce_us


def test_a_degraded_nvlink_bond_barely_moves_a_decode_step() -> None:
    """NV14 of 18: the messages are latency-bound, the custom all-reduce still runs."""
    assert L70B is not None and H100 is not None
    healthy = costmodel.predict(L70B, tp=8, dtype="fp8", sku=H100, path=costmodel.nominal_path("NV18", H100))
    degraded = costmodel.predict(L70B, tp=8, dtype="fp8", sku=H100, path=costmodel.nominal_path("NV14", H100))
    assert degraded.per_token_ms / healthy.per_token_ms - 1 < 0.01


def test_predict_without_a_sku_needs_a_bandwidth() -> None:
    assert L8B is not None
    p = costmodel.predict(L8B, tp=1, dtype="bf16", path=None, hbm_tbps=2.0)
    assert p.gemm_compute_ms == 0.0 and p.weights_ms > 0  # no FLOP/s known: memory-bound only
    with pytest.raises(ValueError):
        costmodel.predict(L8B, tp=1, dtype="bf16", path=None)
