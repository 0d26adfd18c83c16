"""A Hugging Face `config.json` read generically into a `ModelSpec`, and its `quantization_config` into the
checkpoint's weights format.

Architectures are read from their fields, not their names, so a model tpdoctor has never heard of is judged
like one in the catalogue: dense and MoE (`num_local_experts`/`num_experts`/`n_routed_experts`, shared experts,
dense-first or interleaved layers), MLA (`kv_lora_rank`), sliding-window layers (`sliding_window`,
`layer_types`, `sliding_window_pattern`), linear-attention hybrids (`layer_types`, `full_attention_interval`),
multimodal wrappers (`text_config`, `llm_config`, `language_config`) and the older spellings (GPT-2/BLOOM
`n_embd`/`n_layer`, ChatGLM `num_layers`/`multi_query_group_num`/`ffn_hidden_size`, DBRX `d_model` with
`attn_config`/`ffn_config`, Falcon `multi_query`).
"""

from __future__ import annotations

from typing import Any

from tpdoctor.llm.spec import ModelSpec
from tpdoctor.model.errors import ManifestError

# model types whose MLP is up + down (no gate): 2 matrices instead of 3
_PLAIN_MLP = {"falcon", "starcoder2", "gpt_bigcode", "phi", "opt", "bloom", "gpt2", "gpt_neox", "gptj", "mpt",
              "nemotron", "RefinedWeb", "RefinedWebModel"}
# model types whose LM head is tied to the embeddings when the config does not say
_TIED_DEFAULT = {"opt", "bloom", "gpt2", "gpt_bigcode", "gemma", "gemma2", "gemma3", "gemma3_text", "falcon",
                 "cohere", "cohere2", "gpt_neox_japanese", "mpt"}
_TORCH = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    return default


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    """The language model's fields: a multimodal wrapper's text part over the top level; DBRX's nested
    attention and FFN configs lifted."""
    out = dict(cfg)
    for nest in ("text_config", "llm_config", "language_config"):
        if isinstance(cfg.get(nest), dict):
            out = {**out, **cfg[nest]}
            break
    for nest in ("attn_config", "ffn_config"):
        if isinstance(out.get(nest), dict):
            out = {**out[nest], **out}
    return out


def quantization(cfg: dict[str, Any]) -> tuple[str | None, str, str]:
    """(weights format, the config in words, quant_method) from `quantization_config`; (None, "", "") when the
    checkpoint is not quantised. A method tpdoctor cannot size gives format None with the method named."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        q = (cfg.get("text_config") or {}).get("quantization_config") if isinstance(cfg.get("text_config"), dict) \
            else None
    if not isinstance(q, dict):
        return None, "", ""
    method = str(q.get("quant_method") or q.get("quant_algo") or "").lower()
    bits = q.get("bits") or q.get("w_bit")
    group = q.get("group_size") or q.get("q_group_size")
    if method in ("fp8", "fbgemm_fp8", "ptpc_fp8", "fp8_pb_wo"):
        block = q.get("weight_block_size")
        return "fp8", f"{method}" + (f", {block[0]}×{block[1]} blocks" if isinstance(block, list) and
                                     len(block) == 2 else ""), method
    if method in ("gptq", "awq", "marlin", "gptq_marlin", "awq_marlin", "auto-round", "autoround"):
        fmt = ("awq" if "awq" in method else "gptq") if bits in (4, None) else "int8" if bits == 8 else None
        return fmt, f"{method} {bits or '?'}-bit, group {group if group is not None else '?'}", method
    if method == "bitsandbytes":
        four = q.get("load_in_4bit") or q.get("_load_in_4bit")
        kind = f"4-bit {q.get('bnb_4bit_quant_type', '')}".strip() if four else "8-bit"
        return ("int4" if four else "int8"), f"bitsandbytes {kind}", method
    if method == "mxfp4":
        return "mxfp4", "mxfp4 (MoE experts; the rest 16-bit)", method
    if method in ("modelopt", "modelopt_fp4", "nvfp4", "fp4", "w4a16_nvfp4"):
        algo = str(q.get("quant_algo") or q.get("quantization", {}).get("quant_algo", "") or method).upper()
        fmt = "nvfp4" if "FP4" in algo else "fp8" if "FP8" in algo else "awq" if "AWQ" in algo else None
        return fmt, f"modelopt {algo}", method
    if method == "compressed-tensors":
        return _compressed(q)
    return None, f"{method or 'unknown method'}{f' {bits}-bit' if bits else ''}", method or "unknown"


def _compressed(q: dict[str, Any]) -> tuple[str | None, str, str]:
    """compressed-tensors: the weights scheme of its first config group (llm-compressor writes one)."""
    fmt_name = str(q.get("format", ""))
    groups = q.get("config_groups") or {}
    weights: dict[str, Any] = {}
    for g in groups.values() if isinstance(groups, dict) else ():
        if isinstance(g, dict) and isinstance(g.get("weights"), dict):
            weights = g["weights"]
            break
    bits, kind = weights.get("num_bits"), str(weights.get("type", ""))
    size = weights.get("group_size")
    if "nvfp4" in fmt_name or (bits == 4 and kind == "float" and size == 16):
        fmt: str | None = "nvfp4"
    elif "mxfp4" in fmt_name or (bits == 4 and kind == "float"):
        fmt = "mxfp4"
    elif bits == 8:
        fmt = "fp8" if kind == "float" else "int8"
    elif bits == 4:
        fmt = "int4"
    else:
        fmt = None
    text = f"compressed-tensors {fmt_name or '?'}: {kind or '?'} {bits or '?'}-bit" + \
        (f", group {size}" if size else "")
    return fmt, text, "compressed-tensors"


def _layers(cfg: dict[str, Any], layers: int, mtype: str) -> tuple[int, int, int]:
    """(sliding-window tokens, layers that use it, layers with softmax attention: 0 = all)."""
    types = cfg.get("layer_types")
    types = [str(t) for t in types] if isinstance(types, list) else []
    window = _get(cfg, "sliding_window", default=0)
    window = int(window) if isinstance(window, int) and not isinstance(window, bool) else 0
    sliding = 0
    if window and types:
        sliding = sum(1 for t in types if "sliding" in t)
    elif window and cfg.get("use_sliding_window") is False:
        window = 0
    elif window:
        pattern = _get(cfg, "sliding_window_pattern", default=0)
        sliding = (layers - layers // int(pattern)) if isinstance(pattern, int) and pattern > 1 else \
            layers // 2 if mtype == "gemma2" else layers
    kv = sum(1 for t in types if t in ("full_attention", "sliding_attention", "attention")) if \
        any("linear" in t for t in types) else 0
    interval = cfg.get("full_attention_interval")
    if not kv and isinstance(interval, int) and interval > 1 and cfg.get("linear_num_value_heads"):
        kv = layers // interval
    return window, (sliding if window else 0), kv


def from_hf_config(cfg: dict[str, Any], source: str = "<config.json>") -> ModelSpec:
    """Read an HF transformers `config.json` (see the module docstring)."""
    top = cfg
    cfg = _flatten(cfg)
    mtype = str(_get(cfg, "model_type", default=top.get("model_type", "")))
    try:
        hidden = int(_get(cfg, "hidden_size", "n_embd", "d_model", "hidden_dim"))
        layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"))
        heads = int(_get(cfg, "num_attention_heads", "n_head", "n_heads", "num_heads"))
    except (TypeError, ValueError):
        raise ManifestError(f"{source}: not a transformer config.json "
                            "(needs hidden_size, num_hidden_layers, num_attention_heads)") from None
    if cfg.get("multi_query") and not cfg.get("new_decoder_architecture"):
        kv_default = 1  # Falcon-7B: one KV head
    elif cfg.get("multi_query_attention") is not None:
        kv_default = int(cfg.get("multi_query_group_num") or heads) if cfg.get("multi_query_attention") else heads
    else:
        kv_default = heads
    kv_heads = int(_get(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "kv_n_heads", default=kv_default))
    head_dim = int(_get(cfg, "head_dim", "kv_channels", default=hidden // heads))
    experts = int(_get(cfg, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", default=0))
    plain = mtype in _PLAIN_MLP
    wide = int(_get(cfg, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim",
                    default=4 * hidden))
    if mtype == "qwen":  # Qwen (v1) writes the width of w1 and w2 together
        wide //= 2
    moe_width = int(_get(cfg, "moe_intermediate_size", default=wide)) if experts else 0
    dense_width = int(_get(cfg, "intermediate_size_mlp", default=wide)) if experts and "moe_intermediate_size" \
        not in cfg else wide
    dense_layers = 0
    if experts:
        step = cfg.get("interleave_moe_layer_step")
        dense_layers = int(_get(cfg, "first_k_dense_replace", default=0))
        if isinstance(step, int) and step > 1:
            dense_layers = layers - layers // step
        mlp_only = cfg.get("mlp_only_layers")
        if isinstance(mlp_only, list) and mlp_only:
            dense_layers = len(mlp_only)
    shared_width = int(_get(cfg, "shared_expert_intermediate_size", default=0))
    shared = int(_get(cfg, "n_shared_experts", "num_shared_experts", default=1 if shared_width else 0))
    if experts and mtype.startswith("llama4"):
        shared = 1
    window, sliding, kv_layers = _layers(cfg, layers, mtype)
    fmt, qtext, method = quantization(top)
    torch = str(_get(cfg, "torch_dtype", "dtype", default=_get(top, "torch_dtype", "dtype", default="")) or "")
    dtype = fmt or (_TORCH.get(torch.lower(), "") if not method else "")
    tied = _get(cfg, "tie_word_embeddings", default=_get(top, "tie_word_embeddings", default=mtype in _TIED_DEFAULT))
    name = str(_get(top, "_name_or_path", default="") or "")
    return ModelSpec(
        name=name.rstrip("/").rsplit("/", 1)[-1] or "model",
        layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        intermediate=dense_width, vocab=int(_get(cfg, "padded_vocab_size", "vocab_size", default=32000)),
        tied_embeddings=bool(tied),
        max_context=int(_get(cfg, "max_position_embeddings", "max_seq_len", "seq_length", "n_positions",
                             "max_sequence_length", default=8192)),
        dtype=dtype, experts=experts,
        experts_per_token=int(_get(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", "moe_top_k",
                                   "num_experts_per_token", default=0)) if experts else 0,
        moe_intermediate=moe_width, shared_experts=shared if experts else 0,
        shared_intermediate=shared_width if experts else 0, dense_layers=dense_layers,
        q_lora_rank=int(_get(cfg, "q_lora_rank", default=0)),
        kv_lora_rank=int(_get(cfg, "kv_lora_rank", default=0)),
        qk_nope_head_dim=int(_get(cfg, "qk_nope_head_dim", default=0)),
        qk_rope_head_dim=int(_get(cfg, "qk_rope_head_dim", default=0)),
        v_head_dim=int(_get(cfg, "v_head_dim", default=0)),
        gated_mlp=not plain, sliding_window=window, sliding_layers=sliding, kv_layers=kv_layers,
        linear_key_heads=int(_get(cfg, "linear_num_key_heads", default=0)),
        linear_value_heads=int(_get(cfg, "linear_num_value_heads", default=0)),
        linear_key_dim=int(_get(cfg, "linear_key_head_dim", default=0)),
        linear_value_dim=int(_get(cfg, "linear_value_head_dim", default=0)),
        attn_gate=bool(cfg.get("attn_output_gate", False)),
        quant=qtext, quant_method=method, source=source,
    )
