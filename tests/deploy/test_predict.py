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
