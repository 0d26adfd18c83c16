"""The catalogue table (data/models.yaml): its lazy index agrees with a full parse, every entry is a coherent
published architecture with its source, and parameter counts match the published sizes."""

from __future__ import annotations

import pytest

from tpdoctor.llm import catalogue, models

ENTRIES = catalogue.entries()
# published parameter counts (billions) of models added with this table: model cards / safetensors metadata
PUBLISHED = {
    "llama-2-7b": 6.74, "llama-2-70b": 69.0, "llama-3.2-1b": 1.24, "llama-4-scout": 107.8, "llama-4-maverick": 400.7,
    "qwen2.5-0.5b": 0.49, "qwen2.5-1.5b": 1.54, "qwen2.5-3b": 3.09, "qwen2.5-14b": 14.7, "qwen2.5-32b": 32.8,
    "qwen3-0.6b": 0.6, "qwen3-4b": 4.0, "qwen3-coder-480b-a35b": 480.0, "qwen3-next-80b-a3b": 80.0,
    "qwen3.5-35b-a3b": 35.0, "deepseek-v2": 236.0, "deepseek-v2-lite": 15.7, "kimi-k2": 1026.0, "glm-4.5": 355.0,
    "glm-4.5-air": 106.0, "minimax-m2": 230.0, "gpt-oss-20b": 20.9, "gpt-oss-120b": 116.8, "dbrx": 132.0,
    "phi-2": 2.78, "phi-3-mini-4k": 3.82, "phi-3.5-moe": 41.9, "phi-4": 14.7, "falcon-7b": 7.2, "falcon-40b": 41.8,
    "falcon-180b": 179.5, "mixtral-8x22b": 140.6, "mistral-nemo-12b": 12.2, "mistral-large-2": 122.6,
    "gemma-3-1b": 1.0, "command-r-plus": 103.8, "yi-34b": 34.4, "olmoe-1b-7b": 6.9, "opt-125m": 0.125,
    "bloom-560m": 0.56, "tinyllama-1.1b": 1.1, "starcoder2-15b": 16.0,
}
ACTIVE = {"gpt-oss-120b": 5.1, "kimi-k2": 32.0, "glm-4.5": 32.0, "llama-4-maverick": 17.0,
          "qwen3-coder-480b-a35b": 35.0, "deepseek-v2": 21.0}


def test_at_least_150_models_from_every_major_lab() -> None:
    assert len(ENTRIES) >= 150, len(ENTRIES)
    labs = {e.get("lab") for e in ENTRIES.values()}
    assert {"Meta", "Alibaba Qwen", "DeepSeek", "Mistral AI", "Google", "Microsoft", "TII", "Zhipu AI", "Moonshot AI",
            "MiniMax", "Databricks", "OpenAI", "01.AI", "Shanghai AI Lab", "Cohere", "IBM", "AI2", "BigCode"} <= labs


def test_lazy_index_agrees_with_a_full_parse() -> None:
    idx = catalogue.index()
    assert set(idx.spans) == set(ENTRIES)
    for key, entry in ENTRIES.items():
        assert idx.raw(key) == entry, key
        for item in entry.get("repos", []):
            for repo in catalogue.expand(item):
                assert idx.repos[repo.lower()] == (key, repo), (key, repo)
        for alias in entry.get("aliases", []):
            assert idx.aliases[alias.lower()][0] == key, (key, alias)


@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_each_entry_is_a_coherent_published_architecture(key: str) -> None:
    entry = ENTRIES[key]
    spec = models.spec_of(key)
    assert entry.get("lab") and (entry.get("repos") or spec.illustrative), key
    assert spec.source.startswith("catalogue"), spec.source
    assert spec.heads % spec.kv_heads == 0 and spec.layers > 0 and spec.vocab > 0 and spec.max_context >= 2048
    assert spec.dtype in ("bf16", "fp16", "fp32", "fp8", "int4", "mxfp4"), spec.dtype
    assert bool(spec.quant_method) == (spec.dtype not in ("bf16", "fp16", "fp32")), key
    if spec.is_moe:
        assert 0 < spec.experts_per_token <= spec.experts and spec.moe_intermediate > 0, key
    if spec.sliding_window:
        assert 0 < spec.sliding_layers <= spec.layers, key
    if spec.kv_layers:
        assert spec.kv_layers < spec.layers and spec.linear_value_heads, key


@pytest.mark.parametrize("key,billions", sorted(PUBLISHED.items()))
def test_parameter_counts_match_published(key: str, billions: float) -> None:
    assert models.spec_of(key).total_params() / 1e9 == pytest.approx(billions, rel=0.03)


@pytest.mark.parametrize("key,billions", sorted(ACTIVE.items()))
def test_active_parameters_match_published(key: str, billions: float) -> None:
    assert models.spec_of(key).active_params() / 1e9 == pytest.approx(billions, rel=0.15)


def test_repo_ids_are_unique_across_entries() -> None:
    seen: dict[str, str] = {}
    for key, entry in ENTRIES.items():
        for item in entry.get("repos", []):
            for repo in catalogue.expand(item):
                assert seen.setdefault(repo.lower(), key) == key, (repo, seen[repo.lower()], key)
