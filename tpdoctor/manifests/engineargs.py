"""Engine command lines -> deployment values: vLLM, SGLang, TGI and TensorRT-LLM flags.

Input is a list of `Token`s (text plus where it sits in the file) so each value keeps its origin.
Unknown flags are ignored; only the flags that matter for placement and sizing are read.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from tpdoctor.model.deployment import Origin


@dataclass(frozen=True)
class Token:
    text: str
    origin: Origin  # where this token's text is; fmt "value" for list items, "flag" inside strings
    in_string: bool = False  # part of a larger shell string (several tokens in one scalar)


# flag -> (field, converter); per engine. Converters turn text into the Deployment value.
_INT, _FLOAT, _STR = int, float, str
_FLAGS: dict[str, dict[str, tuple[str, Any]]] = {
    "vllm": {
        "--model": ("model", _STR), "--tensor-parallel-size": ("tp", _INT), "-tp": ("tp", _INT),
        "--pipeline-parallel-size": ("pp", _INT), "-pp": ("pp", _INT),
        "--data-parallel-size": ("replicas", _INT), "-dp": ("replicas", _INT),
        "--dtype": ("dtype", _STR), "--quantization": ("quantization", _STR), "-q": ("quantization", _STR),
        "--max-model-len": ("max_model_len", _INT), "--max-num-seqs": ("max_num_seqs", _INT),
        "--kv-cache-dtype": ("kv_cache_dtype", _STR),
        "--gpu-memory-utilization": ("gpu_memory_utilization", _FLOAT),
        "--served-model-name": ("name", _STR),
    },
    "sglang": {
        "--model-path": ("model", _STR), "--model": ("model", _STR), "--tp": ("tp", _INT),
        "--tp-size": ("tp", _INT), "--tensor-parallel-size": ("tp", _INT), "--pp-size": ("pp", _INT),
        "--pp": ("pp", _INT), "--dp": ("replicas", _INT), "--dp-size": ("replicas", _INT),
        "--dtype": ("dtype", _STR), "--quantization": ("quantization", _STR),
        "--context-length": ("max_model_len", _INT), "--max-running-requests": ("max_num_seqs", _INT),
        "--kv-cache-dtype": ("kv_cache_dtype", _STR),
        "--mem-fraction-static": ("gpu_memory_utilization", _FLOAT),
        "--served-model-name": ("name", _STR), "--nnodes": ("nodes", _INT),
    },
    "tgi": {
        "--model-id": ("model", _STR), "--num-shard": ("tp", _INT), "--dtype": ("dtype", _STR),
        "--quantize": ("quantization", _STR), "--max-total-tokens": ("max_model_len", _INT),
        "--max-concurrent-requests": ("max_num_seqs", _INT),
        "--cuda-memory-fraction": ("gpu_memory_utilization", _FLOAT),
        "--kv-cache-dtype": ("kv_cache_dtype", _STR),
    },
    "trtllm": {
        "--model": ("model", _STR), "--model_dir": ("model", _STR), "--checkpoint_dir": ("model", _STR),
        "--engine_dir": ("model", _STR), "--tp_size": ("tp", _INT), "--pp_size": ("pp", _INT),
        "--tensor_parallel_size": ("tp", _INT), "--max_seq_len": ("max_model_len", _INT),
        "--max_batch_size": ("max_num_seqs", _INT), "--dtype": ("dtype", _STR),
        "--kv_cache_free_gpu_memory_fraction": ("gpu_memory_utilization", _FLOAT),
        "--use_fp8": ("quantization", _STR),
    },
}
_BOOL_FLAGS = {"--use_fp8"}
_ENV_RE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def detect_engine(words: list[str]) -> tuple[str | None, int]:
    """(engine, index of the first argument after the entry point) for a tokenised command line."""
    for i, w in enumerate(words):
        base = w.rsplit("/", 1)[-1]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if base == "vllm" and nxt == "serve":
            return "vllm", i + 2
        if base in ("-m",) and nxt.startswith("vllm.entrypoints"):
            return "vllm", i + 2
        if base == "-m" and nxt.startswith("sglang.launch_server"):
            return "sglang", i + 2
        if base in ("sglang",) and nxt in ("serve", "launch_server"):
            return "sglang", i + 2
        if base == "text-generation-launcher":
            return "tgi", i + 1
        if base in ("trtllm-serve", "trtllm-build", "trtllm-llmapi-launch"):
            return "trtllm", i + 1 + (1 if nxt == "serve" else 0)
        if base.endswith(".py") and ("convert_checkpoint" in base or base == "run.py"
                                     or "tensorrt_llm" in w):
            return "trtllm", i + 1
    return None, 0


def tokens_from_string(text: str, origin: Origin) -> list[Token]:
    """Split a shell string; each token's origin points into the string so `--fix` can find it."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        words = text.split()
    out: list[Token] = []
    cursor = 0
    for w in words:
        pos = text.find(w, cursor)
        if pos < 0:
            pos = cursor
        else:
            cursor = pos + len(w)
        out.append(Token(w, Origin(origin.file, origin.line, origin.col + pos, w, "flag"), in_string=True))
    return out


def parse(tokens: list[Token]) -> tuple[str | None, dict[str, Any], dict[str, Origin], dict[str, str],
                                         list[str]]:
    """(engine, values, origins, inline env, notes) of a command line. `values` uses Deployment field
    names plus `quantization`; unknown flags are skipped."""
    words = [t.text for t in tokens]
    engine, start = detect_engine(words)
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    env: dict[str, str] = {}
    notes: list[str] = []
    for t in tokens[:start]:
        m = _ENV_RE.match(t.text)
        if m:
            env[m.group(1)] = m.group(2)
            origins[f"env.{m.group(1)}"] = Origin(t.origin.file, t.origin.line, t.origin.col, t.text, "flag")
    if engine is None:
        return None, values, origins, env, notes
    flags = _FLAGS[engine]
    positional_model = engine in ("vllm", "trtllm") and start < len(words) and not words[start].startswith("-")
    if positional_model:
        values["model"] = words[start]
        origins["model"] = tokens[start].origin
    i = start + (1 if positional_model else 0)
    while i < len(tokens):
        word = tokens[i].text
        if not word.startswith("-"):
            i += 1
            continue
        flag, eq, inline = word.partition("=")
        spec = flags.get(flag)
        if spec is None:
            i += 1
            continue
        fieldname, conv = spec
        if flag in _BOOL_FLAGS:
            values[fieldname] = "fp8"
            origins[fieldname] = tokens[i].origin
            i += 1
            continue
        if eq:
            raw, tok, text = inline, tokens[i], word
            i += 1
        elif i + 1 < len(tokens):
            raw, tok = tokens[i + 1].text, tokens[i + 1]
            text = f"{word} {raw}"
            i += 2
        else:
            notes.append(f"{flag} has no value")
            break
        try:
            values[fieldname] = conv(raw)
        except ValueError:
            notes.append(f"{flag} {raw!r} is not a valid {conv.__name__}")
            continue
        if tok.in_string:
            # inside a shell string: rewrite "<flag> <value>" as one piece so a bare "2" is never mistaken
            origins[fieldname] = Origin(tok.origin.file, tok.origin.line,
                                        tokens[i - 1 if eq else i - 2].origin.col, text, "flag")
        else:
            origins[fieldname] = tok.origin if not eq else Origin(
                tok.origin.file, tok.origin.line, tok.origin.col, word, "flag")
    return engine, values, origins, env, notes


def flag_for(engine: str, fieldname: str) -> str | None:
    """The canonical flag that sets `fieldname` for `engine` (for --fix when a value must be added)."""
    for flag, (f, _) in _FLAGS.get(engine, {}).items():
        if f == fieldname and flag.startswith("--"):
            return flag
    return None
