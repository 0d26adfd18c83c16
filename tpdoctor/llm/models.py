"""Model architectures: the bundled catalogue (`data/models.yaml`) and local HF `config.json` files.

A `ModelSpec` carries what sizing and the cost model need: layers, hidden size, attention and KV heads,
head dim, FFN sizes, MoE experts, MLA ranks. Parameter counts are computed from the architecture (linear
layers + embeddings; norms and biases are below 0.1% and ignored), so a catalogue entry and a config.json
of the same model agree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tpdoctor.model.errors import ManifestError

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: start-up cost


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense FFN width (gated MLP: gate + up + down)
    vocab: int
    tied_embeddings: bool = False
    max_context: int = 8192
    dtype: str = "bf16"  # the checkpoint's native dtype
    experts: int = 0  # routed experts per MoE layer (0 = dense)
    experts_per_token: int = 0
    moe_intermediate: int = 0
    shared_experts: int = 0
    shared_intermediate: int = 0  # when a shared expert has its own width (Qwen2-MoE)
    dense_layers: int = 0  # leading layers that keep a dense FFN (DeepSeek first_k_dense_replace)
    q_lora_rank: int = 0  # MLA (DeepSeek): 0 = plain multi-head / grouped-query attention
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    illustrative: bool = False  # not a published config (the example's qwen35-27b)
    source: str = "catalogue"  # catalogue | path of the config.json

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.is_moe else 0

    def attention_params(self) -> int:
        """Per layer."""
        h = self.hidden
        if self.is_mla:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            q = (h * self.q_lora_rank + self.q_lora_rank * self.heads * qk) if self.q_lora_rank \
                else h * self.heads * qk
            kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim)
            kv_b = self.kv_lora_rank * self.heads * (self.qk_nope_head_dim + self.v_head_dim)
            return q + kv_a + kv_b + self.heads * self.v_head_dim * h
        q_out = self.heads * self.head_dim
        kv_out = self.kv_heads * self.head_dim
        return h * q_out + 2 * h * kv_out + q_out * h

    def expert_params(self) -> int:
        """One routed expert (gated MLP)."""
        return 3 * self.hidden * self.moe_intermediate

    def shared_params(self) -> int:
        width = self.shared_intermediate or self.moe_intermediate
        return self.shared_experts * 3 * self.hidden * width if self.shared_experts else 0

    def ffn_params(self, active_only: bool = False) -> int:
        """All layers' FFN parameters (routed experts counted once each, or only the active ones)."""
        dense = 3 * self.hidden * self.intermediate
        if not self.is_moe:
            return self.layers * dense
        experts = self.experts_per_token if active_only else self.experts
        moe = experts * self.expert_params() + self.shared_params() + self.hidden * self.experts
        return self.dense_layers * dense + self.moe_layers * moe

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def linear_params(self, active_only: bool = False) -> int:
        return self.layers * self.attention_params() + self.ffn_params(active_only)

    def total_params(self) -> int:
        return self.linear_params() + self.embedding_params()

    def active_params(self) -> int:
        """Parameters read per token at batch 1 (MoE: only the routed experts it uses)."""
        return self.linear_params(active_only=True) + self.embedding_params()

    def kv_elements_per_token(self) -> int:
        """KV-cache elements per token, all layers (MLA caches one compressed latent per layer)."""
        if self.is_mla:
            return self.layers * (self.kv_lora_rank + self.qk_rope_head_dim)
        return 2 * self.layers * self.kv_heads * self.head_dim


_FIELDS = {f for f in ModelSpec.__dataclass_fields__} - {"name", "source"}
_SUFFIX_RE = re.compile(
    r"(-(instruct|chat|base|it|hf|fp8|fp8-dynamic|awq|gptq|int4|int8|w4a16|w8a8|bnb-4bit|\d{4}|v\d+\.\d+))+$")


def canonical_name(name: str) -> str:
    """`meta-llama/Llama-3.1-70B-Instruct-FP8` -> `llama-3.1-70b`: the key used for catalogue lookups."""
    base = name.strip().rstrip("/").split("/")[-1].lower().replace("_", "-")
    return _SUFFIX_RE.sub("", base)


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, ModelSpec]:
    text = resources.files("tpdoctor.data").joinpath("models.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_LOADER)
    out: dict[str, ModelSpec] = {}
    for key, entry in data["models"].items():
        fields = {k: v for k, v in entry.items() if k in _FIELDS}
        unknown = set(entry) - _FIELDS - {"aliases"}
        if unknown:
            raise ValueError(f"models.yaml: {key}: unknown fields {sorted(unknown)}")
        spec = ModelSpec(name=key, **fields)
        for alias in [key, *entry.get("aliases", [])]:
            out[alias.lower()] = spec
    return out


def catalogue_names() -> list[str]:
    return sorted({spec.name for spec in _catalogue().values()})


def lookup(name: str) -> ModelSpec | None:
    """A catalogue model by name, HF repo id or alias; None when it is not bundled."""
    cat = _catalogue()
    base = name.strip().rstrip("/").split("/")[-1].lower().replace("_", "-")
    return cat.get(base) or cat.get(canonical_name(name)) or cat.get(name.strip().lower())


def quantization_hint(name: str) -> str | None:
    """A dtype implied by a model name suffix (`…-FP8`, `…-AWQ`), or None."""
    low = name.lower()
    for tag, dtype in (("fp8", "fp8"), ("awq", "awq"), ("gptq", "gptq"), ("int4", "int4"),
                       ("w4a16", "int4"), ("int8", "int8"), ("w8a8", "int8")):
        if re.search(rf"[-_.]{tag}(\b|[-_.])", low) or low.endswith(f"-{tag}"):
            return dtype
    return None


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    return default


def from_hf_config(cfg: dict[str, Any], source: str = "<config.json>") -> ModelSpec:
    """Read an HF transformers `config.json` (dense, MoE, MLA; multimodal ones via `text_config`)."""
    top = cfg
    if isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg, **cfg["text_config"]}
    try:
        hidden = int(_get(cfg, "hidden_size", "n_embd", "d_model"))
        layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers"))
        heads = int(_get(cfg, "num_attention_heads", "n_head"))
    except (TypeError, ValueError):
        raise ManifestError(f"{source}: not a transformer config.json "
                            "(needs hidden_size, num_hidden_layers, num_attention_heads)") from None
    kv_heads = int(_get(cfg, "num_key_value_heads", "num_kv_heads", default=heads))
    head_dim = int(_get(cfg, "head_dim", default=hidden // heads))
    experts = int(_get(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0))
    quant = top.get("quantization_config") or {}
    dtype = str(_get(cfg, "torch_dtype", "dtype", default="bfloat16"))
    method = str(quant.get("quant_method", "")).lower()
    if method in ("fp8", "awq", "gptq"):
        dtype = method
    elif method and quant.get("bits") in (4, 8):
        dtype = "int4" if quant["bits"] == 4 else "int8"
    name = str(_get(top, "_name_or_path", default="")) or Path(source).parent.name or "model"
    return ModelSpec(
        name=canonical_name(name) if name else "model",
        layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        intermediate=int(_get(cfg, "intermediate_size", "n_inner", default=4 * hidden)),
        vocab=int(_get(cfg, "vocab_size", default=32000)),
        tied_embeddings=bool(_get(cfg, "tie_word_embeddings", default=False)),
        max_context=int(_get(cfg, "max_position_embeddings", "n_positions", default=8192)),
        dtype=dtype,
        experts=experts,
        experts_per_token=int(_get(cfg, "num_experts_per_tok", "moe_topk", default=0)) if experts else 0,
        moe_intermediate=int(_get(cfg, "moe_intermediate_size", "intermediate_size", default=0))
        if experts else 0,
        shared_experts=int(_get(cfg, "n_shared_experts", default=1 if cfg.get(
            "shared_expert_intermediate_size") else 0)) if experts else 0,
        shared_intermediate=int(_get(cfg, "shared_expert_intermediate_size", default=0)),
        dense_layers=int(_get(cfg, "first_k_dense_replace", default=0)) if experts else 0,
        q_lora_rank=int(_get(cfg, "q_lora_rank", default=0)),
        kv_lora_rank=int(_get(cfg, "kv_lora_rank", default=0)),
        qk_nope_head_dim=int(_get(cfg, "qk_nope_head_dim", default=0)),
        qk_rope_head_dim=int(_get(cfg, "qk_rope_head_dim", default=0)),
        v_head_dim=int(_get(cfg, "v_head_dim", default=0)),
        source=source,
    )


def load_config(path: str | Path) -> ModelSpec:
    """Read a local `config.json` (or a model directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{p}: cannot read model config ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{p}:{exc.lineno}: model config is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{p}: model config is not a JSON object")
    return from_hf_config(data, str(p))


def resolve(model: str, base_dir: Path | None = None) -> ModelSpec | None:
    """A model reference from a manifest: a local path (dir or config.json) first, then the catalogue."""
    candidates = [Path(model)]
    if base_dir is not None and not Path(model).is_absolute():
        candidates.insert(0, base_dir / model)
    for cand in candidates:
        if cand.is_file() and cand.suffix == ".json" or (cand.is_dir() and (cand / "config.json").is_file()):
            return load_config(cand)
    return lookup(model)
