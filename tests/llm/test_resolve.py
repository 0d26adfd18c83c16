"""Exact name resolution, config.json wherever it is (bounded, offline), and precision as each engine decides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tpdoctor.llm import configfile, models, names, precision
from tpdoctor.model.errors import ManifestError

ROOT = Path(__file__).resolve().parents[2]
DSV3 = ROOT / "fixtures" / "models" / "deepseek-v3-config.json"


@pytest.mark.parametrize("ref,key,fmt", [
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b", None),
    ("meta-llama/llama-3.1-70b-instruct", "llama-3.1-70b", None),  # the Hub ignores case
    ("/models/Llama-3.1-70B-Instruct", "llama-3.1-70b", None),  # a local directory named as published
    ("/data/hub/models--Qwen--Qwen3-32B/snapshots/abc123", "qwen3-32b", None),
    ("/models/llm/Qwen/Qwen2___5-72B-Instruct-GPTQ-Int4", "qwen2.5-72b", "gptq"),  # ModelScope's cache
    ("Qwen/Qwen2.5-72B-Instruct-AWQ", "qwen2.5-72b", "awq"),
    ("Infermatic/Llama-3.3-70B-Instruct-FP8-Dynamic", "llama-3.3-70b", "fp8"),
    ("nvidia/Llama-3.1-8B-Instruct-FP8", "llama-3.1-8b", "fp8"),
    ("RedHatAI/Meta-Llama-3.1-70B-Instruct-quantized.w4a16", "llama-3.1-70b", "int4"),
    ("unsloth/Meta-Llama-3.1-8B-Instruct-bnb-4bit", "llama-3.1-8b", "int4"),
    ("nvidia/DeepSeek-R1-NVFP4", "deepseek-r1", "nvfp4"),
    ("someone/gpt-oss-120b-MXFP4", "gpt-oss-120b", "mxfp4"),
    ("neuralmagic/Meta-Llama-3-8B-Instruct-quantized.w8a8", "llama-3-8b", "int8"),
    ("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "llama-3.1-8b", None),
    ("/m/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "llama-3.1-8b", "int4"),
    ("/m/Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", "llama-3.1-8b", "int8"),
    ("llama-3.1-70b", "llama-3.1-70b", None),
])
def test_exact_resolution(ref: str, key: str, fmt: str | None) -> None:
    res = models.resolve_model(ref, use_cache=False)
    assert res.spec is not None and res.spec.name == key, res
    assert res.name_precision == fmt


@pytest.mark.parametrize("ref", ["meta-llama/Llama-3-70b-chat-hf", "meta-llama/Llama-3-8B-Instruct",
                                 "Qwen/Qwen2.5-70B"])
def test_a_near_miss_is_a_note_with_the_closest_names(ref: str) -> None:
    res = models.resolve_model(ref, use_cache=False)
    assert res.spec is None and res.closest and f"{ref!r} is not in the catalogue; closest:" in (res.note or "")


def test_the_closest_names_keep_the_version_and_size() -> None:
    res = models.resolve_model("meta-llama/Llama-3-70b-chat-hf", use_cache=False)
    assert "meta-llama/Meta-Llama-3-70B-Instruct" in res.closest, res.closest


def test_quant_suffixes_strip_in_layers() -> None:
    assert names.strip_quant("DeepSeek-V3.1-W4AFP8-MTP-TRTLLM")[:2] == ("DeepSeek-V3.1", "int4")
    assert names.strip_quant("Meta-Llama-3.1-70B-Instruct-AWQ-INT4")[:2] == ("Meta-Llama-3.1-70B-Instruct", "awq")
    assert names.strip_quant("Qwen3-8B")[:2] == ("Qwen3-8B", None)


def _cache(root: Path, repo: str, cfg: dict[str, object]) -> Path:
    org, name = repo.split("/")
    base = root / f"models--{org}--{name}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("0123abcd")
    snap = base / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(cfg))
    return snap / "config.json"


def test_hf_cache_is_read_offline_in_hubs_order(tmp_path: Path) -> None:
    cfg = json.loads(DSV3.read_text())
    hub = tmp_path / "home" / "hub"
    path = _cache(hub, "acme/Private-MoE", cfg)
    res = models.resolve_model("acme/Private-MoE", env={"HF_HOME": str(tmp_path / "home")})
    assert res.how == "hf-cache" and res.config_path == str(path) and res.spec is not None and res.spec.is_mla
    assert "Hugging Face cache" in res.source and str(path) in res.source
    assert configfile.cache_dirs({"HF_HUB_CACHE": "/a", "HF_HOME": "/b"})[:2] == [Path("/a"), Path("/b/hub")]
    assert models.resolve_model("../../etc/passwd", env={"HF_HOME": str(tmp_path)}).how == "none"


def test_model_config_file_or_directory_wins(tmp_path: Path) -> None:
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text(DSV3.read_text())
    for given in (d, d / "config.json"):
        res = models.resolve_model("whatever/unknown", model_config=given)
        assert res.how == "model-config" and res.spec is not None and res.spec.dtype == "fp8"
    with pytest.raises(ManifestError, match="no such file"):
        models.resolve_model("x", model_config=tmp_path / "missing.json")


def test_a_hostile_config_path_is_refused_not_read(tmp_path: Path) -> None:
    """As root on a node: a manifest's model path that is a FIFO, a device or a huge file is never read."""
    fifo = tmp_path / "fifo-model"
    fifo.mkdir()
    os.mkfifo(fifo / "config.json")
    dev = tmp_path / "dev-model"
    dev.mkdir()
    (dev / "config.json").symlink_to("/dev/zero")
    big = tmp_path / "big-model"
    big.mkdir()
    with open(big / "config.json", "wb") as f:
        f.truncate(configfile.MAX_CONFIG_BYTES + 1)
    for d, why in ((fifo, "FIFO"), (dev, "character device"), (big, "more than")):
        res = models.resolve_model(str(d))
        assert res.spec is None and why in (res.note or ""), res.note


def test_text_config_nesting_and_hybrid_layers_are_read_generically(tmp_path: Path) -> None:
    cfg = {"architectures": ["Qwen3_5MoeForConditionalGeneration"], "model_type": "qwen3_5_moe",
           "text_config": {"model_type": "qwen3_5_moe_text", "hidden_size": 2048, "num_hidden_layers": 40,
                           "layer_types": ["linear_attention"] * 3 + ["full_attention"], "num_attention_heads": 16,
                           "num_key_value_heads": 2, "head_dim": 256, "num_experts": 256, "num_experts_per_tok": 8,
                           "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
                           "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_key_head_dim": 128,
                           "linear_value_head_dim": 128, "attn_output_gate": True, "vocab_size": 248320,
                           "max_position_embeddings": 262144},
           "quantization_config": {"bits": 4, "group_size": 128, "quant_method": "gptq"}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    spec = models.load_config(path)
    assert (spec.kv_layers, spec.experts, spec.shared_experts, spec.dtype) == (1, 256, 1, "gptq")
    assert spec.kv_elements_per_token() == 2 * 1 * 2 * 256


@pytest.mark.parametrize("engine,quant,dtype,ref,weights,fails", [
    # the checkpoint first: DeepSeek-R1 is FP8 whatever --dtype says (activations)
    ("vllm", None, "bfloat16", "deepseek-ai/DeepSeek-R1", "fp8", False),
    ("vllm", None, "half", "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4", "gptq", False),
    ("vllm", None, "float32", "meta-llama/Llama-3.1-8B-Instruct", "fp32", False),
    ("vllm", "fp8", None, "meta-llama/Llama-3.1-70B-Instruct", "fp8", False),  # quantised at load time
    ("vllm", "awq", None, "meta-llama/Meta-Llama-3-70B-Instruct", "bf16", True),  # no AWQ config: fails
    ("sglang", "awq", None, "deepseek-ai/DeepSeek-R1", "fp8", True),  # contradicts the checkpoint
    ("vllm", "fp8", None, "deepseek-ai/DeepSeek-R1", "fp8", False),
    ("tgi", "awq", "float16", "meta-llama/Meta-Llama-3-70B-Instruct", "bf16", True),
    ("tgi", "bitsandbytes-nf4", None, "meta-llama/Meta-Llama-3-70B-Instruct", "int4", False),
    ("tgi", "awq", None, "TheBloke/zephyr-7B-beta-AWQ", "awq", False),  # by name: the flag matches
    ("trtllm", None, None, "/cfs/deepseek-ai/DeepSeek-V3.1-W4AFP8-MTP-TRTLLM", "int4", False),
    ("vllm", None, None, "mnt/share/deepseek-ai/DeepSeek-R1-bf16", "bf16", False),  # a dequantised re-upload
])
def test_precision_as_each_engine_decides(engine: str, quant: str | None, dtype: str | None, ref: str,
                                          weights: str, fails: bool) -> None:
    p = precision.resolve(engine, quant, dtype, models.resolve_model(ref, use_cache=False))
    assert p.weights == weights, p
    assert bool(p.load_error) == fails, p


def test_unknown_is_unknown_never_bf16() -> None:
    p = precision.resolve("vllm", None, None, models.resolve_model("/workspace", use_cache=False))
    assert p.weights is None and "unknown" in (p.note or "")
    gguf = precision.resolve("vllm", None, None, models.resolve_model("/m/DeepSeek-R1-0528-UD-IQ2_XXS.gguf"))
    assert gguf.weights is None  # an IQ2 GGUF is not the FP8 checkpoint, and tpdoctor does not size IQ2


@pytest.mark.parametrize("method,quant,engine,fails", [
    # SGLang's own table (model_config.py _verify_quantization: compatible_quantization_methods,
    # REQUANTIZATION_METHODS), which vLLM does not share
    ("modelopt", "modelopt_fp8", "sglang", False), ("modelopt", "modelopt_fp8", "vllm", True),
    ("compressed-tensors", "w8a8_int8", "sglang", False), ("compressed-tensors", "w8a8_int8", "vllm", True),
    ("fp8", "quark_mxfp4", "sglang", False), ("fp8", "nvfp4_online", "sglang", False),
    ("gptq", "gptq_marlin", "sglang", False), ("gptq", "awq", "sglang", True), ("fp8", "awq", "sglang", True),
])
def test_quantization_flag_against_the_checkpoint_by_engine(tmp_path: Path, method: str, quant: str, engine: str,
                                                           fails: bool) -> None:
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
           "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
           "vocab_size": 128256, "max_position_embeddings": 131072,
           "quantization_config": {"quant_method": method, "bits": 4}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    p = precision.resolve(engine, quant, None, models.resolve_model(str(tmp_path), use_cache=False))
    assert bool(p.load_error) == fails, p
    if fails:
        assert ("sglang/srt/configs/model_config.py" in p.load_error) == (engine == "sglang"), p.load_error
