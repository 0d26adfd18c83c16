"""predict is the cost model's what-if face: the same numbers check-deployment uses, with the same defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.assess import assess
from tpdoctor.deploy.predict import PredictRequest, predict
from tpdoctor.model.errors import ManifestError
from tpdoctor.probes.replay import example_path, load

ROOT = Path(__file__).resolve().parents[2]


def test_predict_sizes_memory_like_check_deployment() -> None:
    """No max_model_len given: both size memory under vLLM's own rule for the model's full context."""
    from tpdoctor.manifests.loader import read

    topology = load(example_path())
    (dep,) = [d.with_values(max_model_len=None, max_num_seqs=None)
              for d in read(ROOT / "fixtures" / "deployments" / "canonical-job.yaml")]
    checked = assess(dep, topology)
    predicted = predict(PredictRequest(model=dep.model, tp=dep.tp, dtype=dep.dtype, topology=topology,
                                       gpus=dep.gpus or ()))
    assert checked.memory is not None and predicted.memory is not None
    assert predicted.memory.need_bytes == checked.memory.need_bytes
    assert predicted.memory.pool_tokens == checked.memory.pool_tokens
    assert predicted.memory.context == checked.memory.context == 32768  # qwen35-27b's max_position_embeddings


def test_predict_refuses_a_tp_the_model_cannot_use() -> None:
    """TP=3 for a 64-head model: the engine refuses to start (check-deployment's TPD204), so predict does too."""
    with pytest.raises(ManifestError, match="TP=3 does not divide the 64 attention heads") as exc:
        predict(PredictRequest(model="llama-3.1-70b", tp=3, gpu="h100-sxm"))
    assert exc.value.hint is not None and "1, 2, 4, 8" in exc.value.hint


def test_predict_refuses_unknown_model_and_gpu() -> None:
    with pytest.raises(ManifestError, match="not in the catalogue"):
        predict(PredictRequest(model="no-such-model", tp=2, gpu="h100-sxm"))
    with pytest.raises(ManifestError, match="not in data/gpus.yaml"):
        predict(PredictRequest(model="qwen35-27b", tp=2, gpu="voodoo-5"))


def test_curve_covers_every_valid_tp_on_nvlink_and_pcie() -> None:
    from tpdoctor.deploy.predict import predict_curve

    c = predict_curve(PredictRequest(model="llama-3.1-70b", gpu="h100-sxm", dtype="fp8"))
    assert c.valid_tp == (1, 2, 4, 8)  # 64 heads, 8 KV heads: 3, 5, 6, 7 do not divide
    assert [p.tp for p in c.curve.points] == [1, 2, 4, 8]
    paths = [(p.nvlink.path if p.nvlink else None, p.pcie.path if p.pcie else None) for p in c.curve.points]
    assert paths == [(None, None), ("NV18", "PIX"), ("NV18", "NODE"), ("NV18", "SYS")]
    nv = [p.nvlink.per_token_ms for p in c.curve.points if p.nvlink]
    assert nv == sorted(nv, reverse=True)  # on NVSwitch every TP step is faster per token
    assert c.curve.points[0].fits is False and c.curve.points[1].fits  # 70B in fp8 needs two 80 GB GPUs
    # over PCIe the NCCL hops across a socket eat the gain: TP=8 is no better than TP=2
    pcie = {p.tp: p.pcie.per_token_ms for p in c.curve.points if p.pcie}
    assert pcie[8] > 0.9 * pcie[2] and c.curve.knee_pcie == 2 and c.curve.knee_nvlink == 8


def test_curve_on_a_bridge_sku_stops_nvlink_at_the_pair_and_a_pcie_sku_has_none() -> None:
    from tpdoctor.deploy.predict import predict_curve

    nvl = predict_curve(PredictRequest(model="qwen3-32b", gpu="h100-nvl", dtype="fp8")).curve
    assert [p.tp for p in nvl.points if p.nvlink is not None] == [1, 2]
    l40s = predict_curve(PredictRequest(model="qwen3-32b", gpu="l40s", dtype="fp8")).curve
    assert all(p.nvlink is None for p in l40s.points) and l40s.knee_nvlink is None


def test_knee_is_the_last_tp_that_cut_latency_enough() -> None:
    from tpdoctor.advice.curve import knee

    assert knee([(1, 10.0), (2, 6.0), (4, 4.0), (8, 3.8)]) == (4, 8)
    assert knee([(1, 10.0), (2, 9.0)]) == (1, 2)
    assert knee([]) == (None, None)


def test_predict_takes_the_engine_and_eager_mode() -> None:
    base = dict(model="llama-3.1-8b", tp=4, gpu="h100-sxm")
    graphs = predict(PredictRequest(**base)).predictions[0]  # type: ignore[arg-type]
    eager = predict(PredictRequest(**base, eager=True)).predictions[0]  # type: ignore[arg-type]
    tgi = predict(PredictRequest(**base, engine="tgi")).predictions[0]  # type: ignore[arg-type]
    assert eager.per_token_ms > 3 * graphs.per_token_ms  # host-bound: ~0.8 ms of Python per layer
    assert (graphs.allreduce_impl, tgi.allreduce_impl) == ("custom", "nccl")
    assert predict(PredictRequest(model="llama-3.1-8b", gpu="b200", dtype="nvfp4")).dtype == "nvfp4"
