"""Cost model: ring all-reduce formula, path classes, measured bandwidth, TP vs replicas."""

from __future__ import annotations

import pytest

from tpdoctor.advice import costmodel
from tpdoctor.llm import models
from tpdoctor.model import skus

H100NVL = skus.by_key("h100-nvl")
QWEN = models.lookup("qwen35-27b")


def test_ring_allreduce_time() -> None:
    gp = costmodel.GroupPath("NV12", 100.0, "measured", 10.0)
    # 10 µs + 2·3/4 · 1e6 B / 100e9 B/s = 10 + 15 µs
    assert costmodel.allreduce_us(4, 1e6, gp) == pytest.approx(25.0)
    assert costmodel.allreduce_us(1, 1e6, gp) == 0.0


def test_latency_order_of_path_classes() -> None:
    lat = [costmodel.nominal_path(p, H100NVL).latency_us for p in ("NV12", "PIX", "PHB", "NODE", "SYS", "NET")]
    assert lat == sorted(lat)


def test_canonical_pcie_costs_more_than_nvlink_and_tp1_wins_throughput() -> None:
    assert QWEN is not None and H100NVL is not None
    kw = dict(dtype="fp8", hbm_tbps=H100NVL.hbm_tbps)
    nv = costmodel.predict(QWEN, tp=2, path=costmodel.nominal_path("NV12", H100NVL), **kw)  # type: ignore[arg-type]
    pcie = costmodel.predict(QWEN, tp=2, path=costmodel.nominal_path("NODE", H100NVL), **kw)  # type: ignore[arg-type]
    rep = costmodel.predict(QWEN, tp=1, path=None, replicas=2, **kw)  # type: ignore[arg-type]
    assert pcie.allreduce_ms_per_token > 3 * nv.allreduce_ms_per_token
    assert nv.per_token_ms < pcie.per_token_ms
    assert rep.tokens_per_s_total > 1.5 * pcie.tokens_per_s_total
    assert nv.allreduce_bytes == 5120 * 2  # batch 1 × hidden × bf16
    assert 128 * nv.allreduce_us / 1e3 == pytest.approx(nv.allreduce_ms_per_token)


def test_measured_busbw_is_used() -> None:
    assert QWEN is not None and H100NVL is not None
    slow = costmodel.predict(QWEN, tp=2, dtype="fp8", hbm_tbps=3.9, batch=64,
                             path=costmodel.measured_path("NV12", 5.0))
    fast = costmodel.predict(QWEN, tp=2, dtype="fp8", hbm_tbps=3.9, batch=64,
                             path=costmodel.nominal_path("NV12", H100NVL))
    assert slow.bw_source == "measured" and slow.allreduce_us > 2 * fast.allreduce_us


def test_moe_reads_only_active_experts() -> None:
    spec = models.lookup("qwen3-30b-a3b")
    dense = models.lookup("qwen3-32b")
    assert spec is not None and dense is not None
    p_moe = costmodel.predict(spec, tp=1, path=None, dtype="bf16", hbm_tbps=3.35)
    p_dense = costmodel.predict(dense, tp=1, path=None, dtype="bf16", hbm_tbps=3.35)
    assert p_moe.compute_ms_per_token < p_dense.compute_ms_per_token / 5
