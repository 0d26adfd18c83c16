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
    """No max_model_len given: both size the KV cache for the model's full context (predict used 8192)."""
    from tpdoctor.manifests.loader import read

    topology = load(example_path())
    (dep,) = [d.with_values(max_model_len=None, max_num_seqs=None)
              for d in read(ROOT / "fixtures" / "deployments" / "canonical-job.yaml")]
    checked = assess(dep, topology)
    predicted = predict(PredictRequest(model=dep.model, tp=dep.tp, dtype=dep.dtype, topology=topology,
                                       gpus=dep.gpus or ()))
    assert checked.memory is not None and predicted.predictions[0].memory is not None
    assert predicted.predictions[0].memory.per_gpu_bytes == checked.memory.per_gpu_bytes
    assert predicted.predictions[0].memory.kv_tokens == checked.memory.kv_tokens


def test_predict_refuses_unknown_model_and_gpu() -> None:
    with pytest.raises(ManifestError, match="not in the catalogue"):
        predict(PredictRequest(model="no-such-model", tp=2, gpu="h100-sxm"))
    with pytest.raises(ManifestError, match="not in data/gpus.yaml"):
        predict(PredictRequest(model="qwen35-27b", tp=2, gpu="voodoo-5"))
