"""data/running.yaml is consistent with the rest of tpdoctor: the TGI options it keeps from environments are
TGI's own, the rules it leaves out exist and are deployment rules, and each title pattern reads the titles
its source sets."""

from __future__ import annotations

import pytest

from tpdoctor.manifests import flags
from tpdoctor.model.engine_procs import structure
from tpdoctor.report.catalogue import load_catalogue

GENERIC = {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HOSTNAME", "RANK", "LOCAL_RANK",
           "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT", "PMI_RANK", "PMI_SIZE",
           "PMIX_RANK"}
SAGEMAKER = {"SM_NUM_GPUS", "HF_MODEL_ID", "HF_MODEL_QUANTIZE"}  # manifests/build.py maps them onto TGI's


def test_kept_environment_names_are_tgi_options_or_generic() -> None:
    tgi = set(flags.table("tgi").env_names())
    extra = structure().env_names - GENERIC - SAGEMAKER
    assert extra <= tgi, sorted(extra - tgi)


def test_rules_not_applied_are_deployment_rules() -> None:
    scopes = {r.id: r.scope for r in load_catalogue()}
    assert {scopes.get(rid) for rid in structure().not_applied} == {"deployment"}


@pytest.mark.parametrize("title,engine,ranks", [
    ("VLLM::EngineCore", "vllm", {}), ("VLLM::EngineCore_DP3", "vllm", {"dp": 3}),
    ("VLLM::Worker_TP1", "vllm", {"tp": 1}), ("VLLM::Worker_DP0_PP1_TP2_EP2", "vllm", {"dp": 0, "pp": 1, "tp": 2}),
    ("VLLM::Worker", "vllm", {}), ("VLLM::APIServer_0", "vllm", {}),
    ("sglang::scheduler_TP0", "sglang", {"tp": 0}), ("sglang::scheduler_DP1_PP0_TP3_EP3", "sglang",
                                                     {"dp": 1, "pp": 0, "tp": 3}),
    ("sglang::detokenizer", "sglang", {}), ("ray::RayWorkerWrapper.execute_method", None, {}), ("ray::IDLE", None, {}),
])
def test_titles(title: str, engine: str | None, ranks: dict[str, int]) -> None:
    hit = structure().title(title)
    assert hit is not None
    t, m = hit
    assert t.engine == engine
    assert {k: int(v) for k, v in m.groupdict().items() if k in ("dp", "pp", "tp") and v is not None} == ranks
