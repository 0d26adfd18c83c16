"""`ModelSpec`: what sizing and the cost model need to know about a model's architecture.

Layers, hidden size, attention and KV heads, head dim, FFN sizes, MoE experts, MLA ranks, sliding-window
and linear-attention layers, and the checkpoint's own precision. Parameter counts are computed from the
architecture (linear layers + embeddings; norms, biases, convolutions and router biases are below 0.1% and
ignored), so a catalogue entry and a config.json of the same model agree.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    dtype: str = "bf16"  # the checkpoint's weights as published: bf16 | fp16 | fp32 | fp8 | gptq | awq | int4 …
    experts: int = 0  # routed experts per MoE layer (0 = dense)
    experts_per_token: int = 0
    moe_intermediate: int = 0
    shared_experts: int = 0
    shared_intermediate: int = 0  # when a shared expert has its own width (Qwen2-MoE)
    dense_layers: int = 0  # layers that keep a dense FFN (DeepSeek first_k_dense_replace, Llama 4 interleaving)
    q_lora_rank: int = 0  # MLA (DeepSeek): 0 = plain multi-head / grouped-query attention
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    gated_mlp: bool = True  # False: up + down only (Falcon, StarCoder2, Phi-2, OPT, BLOOM)
    sliding_window: int = 0  # tokens a sliding-window layer attends to (0: none)
    sliding_layers: int = 0  # how many layers use it (Gemma 2: half, Gemma 3: 5 of 6)
    kv_layers: int = 0  # layers with softmax attention and a KV cache (0: all); the rest are linear attention
    linear_key_heads: int = 0  # linear-attention layers (Gated DeltaNet: Qwen3-Next, Qwen3.5)
    linear_value_heads: int = 0
    linear_key_dim: int = 0
    linear_value_dim: int = 0
    attn_gate: bool = False  # gated attention output: q_proj is twice as wide (Qwen3-Next, Qwen3.5)
    quant: str = ""  # the checkpoint's quantization_config, in words ("fp8 e4m3, 128×128 blocks")
    quant_method: str = ""  # its quant_method (fp8, gptq, awq, compressed-tensors, modelopt, mxfp4 …)
    repo: str = ""  # the published repo id the values come from
    lab: str = ""
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

    @property
    def attention_layers(self) -> int:
        """Layers with softmax attention (and a KV cache)."""
        return self.kv_layers or self.layers

    def full_attention_params(self) -> int:
        """One softmax-attention layer."""
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
        return h * q_out * (2 if self.attn_gate else 1) + 2 * h * kv_out + q_out * h

    def linear_attention_params(self) -> int:
        """One linear-attention layer (Gated DeltaNet: qkvz and ba in-projections, out-projection)."""
        k = self.linear_key_heads * self.linear_key_dim
        v = self.linear_value_heads * self.linear_value_dim
        return self.hidden * (2 * k + 2 * v + 2 * self.linear_value_heads) + v * self.hidden

    def attention_params(self) -> int:
        """Per layer, averaged over the layers (exact for models with one kind of attention layer)."""
        full = self.attention_layers * self.full_attention_params()
        linear = (self.layers - self.attention_layers) * self.linear_attention_params()
        return (full + linear) // self.layers

    def _mlp(self, width: int) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * width

    def expert_params(self) -> int:
        """One routed expert."""
        return self._mlp(self.moe_intermediate)

    def shared_params(self) -> int:
        width = self.shared_intermediate or self.moe_intermediate
        return self.shared_experts * self._mlp(width) if self.shared_experts else 0

    def ffn_params(self, active_only: bool = False) -> int:
        """All layers' FFN parameters (routed experts counted once each, or only the active ones)."""
        dense = self._mlp(self.intermediate)
        if not self.is_moe:
            return self.layers * dense
        experts = self.experts_per_token if active_only else self.experts
        moe = experts * self.expert_params() + self.shared_params() + self.hidden * self.experts
        return self.dense_layers * dense + self.moe_layers * moe

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def linear_params(self, active_only: bool = False) -> int:
        full = self.attention_layers * self.full_attention_params()
        linear = (self.layers - self.attention_layers) * self.linear_attention_params()
        return full + linear + self.ffn_params(active_only)

    def total_params(self) -> int:
        return self.linear_params() + self.embedding_params()

    def active_params(self) -> int:
        """Parameters read per token at batch 1 (MoE: only the routed experts it uses)."""
        return self.linear_params(active_only=True) + self.embedding_params()

    def kv_elements_per_token(self) -> int:
        """KV-cache elements per token, all layers that keep one (MLA caches one compressed latent per layer;
        linear-attention layers keep a fixed state per sequence, not per token)."""
        if self.is_mla:
            return self.attention_layers * (self.kv_lora_rank + self.qk_rope_head_dim)
        return 2 * self.attention_layers * self.kv_heads * self.head_dim
