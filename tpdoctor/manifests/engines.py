"""An engine recognised by its flags when the image is a custom one (its entrypoint is the engine, its name
says nothing tpdoctor knows): `--model-id … --num-shard` is TGI, `--model-path … --tp` SGLang, `--tp_size`
TensorRT-LLM's `trtllm-serve`, `--model … --tensor-parallel-size` vLLM.

Each engine's spellings are its own parser's (data/engine_flags.yaml, via flags.py); a flag only one engine
accepts decides, and a plain `--model`/`--max-model-len` set is vLLM's (its image entrypoint is the usual one
people rebuild). Nothing engine-like: None, so a project's own server is never mistaken for an engine.
"""

from __future__ import annotations

from tpdoctor.manifests.words import Token

_ONLY = {"tgi": ("--model-id", "--num-shard", "--sharded", "--max-input-length", "--max-input-tokens",
                 "--max-batch-prefill-tokens", "--max-batch-total-tokens", "--max-concurrent-requests"),
         "sglang": ("--model-path", "--tp-size", "--mem-fraction-static", "--max-running-requests", "--dp-size",
                    "--context-length", "--chunked-prefill-size"),
         "trtllm": ("--tp_size", "--pp_size", "--ep_size", "--max_batch_size", "--max_num_tokens", "--max_seq_len",
                    "--kv_cache_free_gpu_memory_fraction", "--extra_llm_api_options"),
         "vllm": ("--tensor-parallel-size", "--pipeline-parallel-size", "--gpu-memory-utilization", "--max-model-len",
                  "--max-num-seqs", "--tensor_parallel_size", "--max_model_len", "--enforce-eager",
                  "--max-num-batched-tokens", "--swap-space")}


def by_flags(tokens: list[Token]) -> str | None:
    """The engine whose own spellings the flags use (see the module docstring), or None."""
    names = {t.text.partition("=")[0] for t in tokens if t.text.startswith("--")}
    votes = {engine: len(names & set(spellings)) for engine, spellings in _ONLY.items()}
    best = max(votes, key=lambda e: votes[e])
    if votes[best] == 0:
        return "vllm" if "--model" in names else None
    if sorted(votes.values())[-2] == votes[best]:
        return None  # as many of one engine's flags as another's: not decided by flags
    return best
