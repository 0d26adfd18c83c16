"""Engines by version (data/engines.yaml), the per-step terms they select, and the intervals and close calls a
prediction carries (advice/uncertainty.py) — through the model and through `tpdoctor predict`."""

from __future__ import annotations

import json

import pytest

from tpdoctor.advice import decode, engines, hardware, params, uncertainty
from tpdoctor.advice.params import P
from tpdoctor.cli import main
from tpdoctor.commands.predict import ENGINES
from tpdoctor.llm import models
from tpdoctor.model import skus


def test_the_cli_offers_every_engine_of_the_table() -> None:
    assert sorted(engines.names()) == sorted(ENGINES)


@pytest.mark.parametrize(("name", "version", "graphs", "custom", "broadcast", "kernel"), [
    ("vllm", "0.2.0", False, False, True, "awq-legacy"),    # before CUDA graphs (vllm#1926)
    ("vllm", "0.2.6", True, False, True, "awq-legacy"),     # graphs, before custom all-reduce (vllm#2192)
    ("vllm", "0.5.3", True, True, True, "awq-legacy"),
    ("vllm", "0.7.2", True, True, True, "fused"),           # V0 engine: inputs broadcast to the TP workers
    ("vllm", None, True, True, False, "fused"),             # current release: V1
    ("vllm", "0.10.1+gptoss", True, True, False, "fused"),
    ("tgi", "1.2", False, False, True, "fused"),            # CUDA graphs default only from 2.0.0
    ("tgi", "2.0.0", True, False, True, "fused"),
    ("gpt-fast", "2023.11.30", True, False, False, "torch"),
])
def test_profiles_follow_the_engine_history(name: str, version: str | None, graphs: bool, custom: bool,
                                            broadcast: bool, kernel: str) -> None:
    e = engines.engine(name, version=version)
    assert (e.graphs, e.custom_allreduce, e.tp_broadcast, e.weight_only_kernel) == (graphs, custom, broadcast, kernel)


def test_versions_read_as_numbers() -> None:
    assert engines.version_key("v0.10.1+gptoss") == (0, 10, 1) > engines.version_key("0.8.0")
    with pytest.raises(ValueError):
        engines.version_key("latest")


def test_the_tp_broadcast_is_paid_only_above_tp1_and_only_by_engines_that_broadcast() -> None:
    spec = models.lookup("llama-3.1-8b")
    assert spec is not None
    v0, v1 = engines.engine("vllm", version="0.7.2"), engines.engine("vllm")
    assert engines.fixed_ms(32, v0, 2) - engines.fixed_ms(32, v0, 1) == pytest.approx(P.tp_step_us / 1e3)
    assert engines.fixed_ms(32, v1, 2) == engines.fixed_ms(32, v1, 1)
    native = engines.engine("trtllm")
    assert engines.fixed_ms(32, native, 1) == pytest.approx((32 * P.layer_us + P.step_us_native) / 1e3)


def test_narrow_gemms_run_below_the_large_gemm_efficiency() -> None:
    wide, narrow = hardware.matmul_efficiency(28672), hardware.matmul_efficiency(28672 / 8)
    assert narrow < wide <= P.matmul_efficiency


def test_a_constant_change_empties_the_step_memo() -> None:
    spec, sku = models.lookup("llama-3.1-8b"), skus.by_key("h100-sxm")
    assert spec is not None and sku is not None
    before = decode.step(spec, fmt="bf16", gpu=hardware.perf(sku), tp=1).step_ms
    old = P.layer_us
    try:
        params.override(layer_us=old + 100)
        after = decode.step(spec, fmt="bf16", gpu=hardware.perf(sku), tp=1).step_ms
        assert after == pytest.approx(before + 32 * 100 / 1e3)
    finally:
        params.override(layer_us=old)
    with pytest.raises(KeyError):
        params.override(no_such_constant=1.0)


def test_close_calls_follow_the_ratio_band() -> None:
    lo, hi = uncertainty.ratio_band()
    assert lo < 1 < hi
    margin = max(hi, 1 / lo)
    assert uncertainty.call(10.0, 10.0 * margin * 1.01) == "a"
    assert uncertainty.call(10.0 * margin * 1.01, 10.0) == "b"
    assert uncertainty.call(10.0, 10.0 * (1 + (margin - 1) / 2)) == "close"
    assert uncertainty.regime(1, None, True) == "tp1" and uncertainty.regime(4, "NV18", True) == "tp_nvlink"
    assert uncertainty.regime(2, "NODE", True) == "tp_pcie" and uncertainty.regime(8, "NV18", False) == "eager"


def _predict(*args: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["predict", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_predict_prints_an_interval_and_takes_the_engine_version(capsys: pytest.CaptureFixture[str]) -> None:
    new = _predict("llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "4", "--dtype", "fp8", capsys=capsys)
    old = _predict("llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "4", "--dtype", "fp8", "--engine-version", "0.7.2",
                   capsys=capsys)
    p, q = new["predictions"][0], old["predictions"][0]
    assert p["per_token_ms_low"] < p["per_token_ms"] < p["per_token_ms_high"] and p["regime"] == "tp_nvlink"
    assert q["per_token_ms"] - p["per_token_ms"] == pytest.approx(P.tp_step_us / 1e3)  # V0's TP broadcast
    assert q["engine"] == "vllm 0.7.2"


def test_predict_serving_options_fold_prompts_into_the_steps(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "2", "--dtype", "fp8", "--batch", "25"]
    static = _predict(*base, "--context", "5250", capsys=capsys)["predictions"][0]
    serving = _predict(*base, "--input-len", "5000", "--output-len", "500", "--continuous-batching",
                       capsys=capsys)["predictions"][0]
    assert serving["per_token_ms"] > static["per_token_ms"]
    assert main(["predict", *base, "--continuous-batching"]) == 3
    assert main(["predict", *base, "--engine-version", "latest"]) == 3
    two_sockets = _predict("llama-3.1-8b", "--gpu", "l40s", "--tp", "8", "--path", "SYS/NODE", capsys=capsys)
    all_sys = _predict("llama-3.1-8b", "--gpu", "l40s", "--tp", "8", "--path", "SYS", capsys=capsys)
    assert two_sockets["predictions"][0]["allreduce_us"] < all_sys["predictions"][0]["allreduce_us"]
