"""Model catalogue and config.json reader: parameter counts match the published sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.llm import models
from tpdoctor.model.errors import ManifestError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "fixtures" / "models"  # abridged copies of the published HF config.json fields

# published parameter counts (billions): model cards / HF safetensors metadata
PUBLISHED = {
    "llama-3.1-8b": 8.03, "llama-3.1-70b": 70.6, "llama-3.1-405b": 405.9, "mistral-7b": 7.25,
    "mixtral-8x7b": 46.7, "mixtral-8x22b": 141.0, "qwen2.5-7b": 7.6, "qwen2.5-72b": 72.7, "qwen3-8b": 8.2,
    "qwen3-32b": 32.8, "qwen3-30b-a3b": 30.5, "qwen3-235b-a22b": 235.0, "deepseek-v3": 671.0,
    "gemma-2-9b": 9.24, "gemma-2-27b": 27.2,
}
ACTIVE = {"mixtral-8x7b": 12.9, "qwen3-30b-a3b": 3.3, "qwen3-235b-a22b": 22.0, "deepseek-v3": 37.0}


@pytest.mark.parametrize("name,billions", sorted(PUBLISHED.items()))
def test_catalogue_parameter_counts_match_published(name: str, billions: float) -> None:
    spec = models.lookup(name)
    assert spec is not None
    assert spec.total_params() / 1e9 == pytest.approx(billions, rel=0.02)


@pytest.mark.parametrize("name,billions", sorted(ACTIVE.items()))
def test_moe_active_parameters(name: str, billions: float) -> None:
    spec = models.lookup(name)
    assert spec is not None and spec.is_moe
    assert spec.active_params() / 1e9 == pytest.approx(billions, rel=0.05)


def test_illustrative_example_model_is_27b_with_40_heads() -> None:
    spec = models.lookup("qwen35-27b")
    assert spec is not None and spec.name == "qwen35-27b" and spec.illustrative
    assert models.lookup("Qwen/Qwen3.5-27B") is None or not models.lookup("Qwen/Qwen3.5-27B").illustrative  # type: ignore[union-attr]
    assert spec.total_params() / 1e9 == pytest.approx(27.0, abs=0.1)
    assert (spec.layers, spec.hidden, spec.heads, spec.kv_heads, spec.head_dim) == (64, 5120, 40, 8, 128)


@pytest.mark.parametrize("text,key", [
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b"), ("Qwen/Qwen3-32B", "qwen3-32b"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"), ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
    ("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", "llama-3.1-8b"),
])
def test_lookup_by_hf_repo_id(text: str, key: str) -> None:
    spec = models.lookup(text)
    assert spec is not None and spec.name == key


def test_quantization_hint_from_name() -> None:
    assert models.quantization_hint("Qwen/Qwen3.5-27B-FP8") == "fp8"
    assert models.quantization_hint("TheBloke/Llama-2-70B-AWQ") == "awq"
    assert models.quantization_hint("meta-llama/Llama-3.1-8B") is None


def test_config_json_dense_matches_catalogue() -> None:
    spec = models.load_config(CONFIGS / "llama-3.1-8b-config.json")
    ref = models.lookup("llama-3.1-8b")
    assert ref is not None
    assert spec.total_params() == ref.total_params()
    assert spec.kv_elements_per_token() == ref.kv_elements_per_token()
    assert spec.dtype == "bf16" and spec.name == "Llama-3.1-8B-Instruct"


def test_config_json_moe() -> None:
    spec = models.load_config(CONFIGS / "mixtral-8x7b-config.json")
    assert spec.experts == 8 and spec.experts_per_token == 2 and spec.moe_intermediate == 14336
    assert spec.total_params() / 1e9 == pytest.approx(46.7, rel=0.01)


def test_config_json_mla_moe_fp8() -> None:
    spec = models.load_config(CONFIGS / "deepseek-v3-config.json")
    assert spec.is_mla and spec.dense_layers == 3 and spec.shared_experts == 1
    assert spec.dtype == "fp8"
    assert spec.total_params() / 1e9 == pytest.approx(671, rel=0.01)
    assert spec.kv_elements_per_token() == 61 * (512 + 64)


def test_config_dir_with_text_config_and_awq() -> None:
    spec = models.resolve("gemma-3-27b-awq", base_dir=CONFIGS)
    assert spec is not None and spec.dtype == "awq" and spec.heads == 32 and spec.tied_embeddings


def test_bad_config_json_is_a_manifest_error_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 4096,\n  "num_hidden_layers": }\n')
    with pytest.raises(ManifestError, match=r"config.json:2"):
        models.load_config(bad)
    bad.write_text(json.dumps({"foo": 1}))
    with pytest.raises(ManifestError, match="not a transformer config"):
        models.load_config(bad)
