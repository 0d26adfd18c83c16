"""How people spell a model: Hugging Face repo ids, local paths, cache directories, quantised re-uploads.

`parse` turns what a manifest says (`--model`, `--model-path`, `MODEL_ID`) into the names to look up, in
order, and what the name itself says about the weights:
- a path keeps its last one or two components (`/models/meta-llama/Llama-3.1-70B-Instruct` ->
  `meta-llama/Llama-3.1-70B-Instruct`, then `Llama-3.1-70B-Instruct`); a Hugging Face cache directory
  (`models--org--name/snapshots/<sha>`) is its repo id; ModelScope's cache writes `.` as `___`
  (`Qwen2___5-72B-Instruct`);
- a quantised re-upload is named by its base plus a suffix: `-GPTQ-Int4`, `-AWQ`, `-FP8`, `-FP8-Dynamic`,
  `-NVFP4`, `-MXFP4`, `-bnb-4bit`, `-Int8`, `-W8A8`, `-quantized.w4a16`, `-GGUF` and GGUF quant types
  (`Q4_K_M`). The suffix is stripped for the lookup and becomes the name's precision hint;
- nothing else is stripped: `-Instruct`, `-chat-hf`, `-it` are part of published names, and a name that is
  not published is not found (its closest names are offered), never matched to a neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

# (suffix pattern, weights format it implies, label). Longest first; matched at the end of the name after a
# `-`, `_` or `.` boundary, case-insensitively. Formats are those of llm/sizing.py and advice/quant.py.
_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    (r"gptq[-_]?int4", "gptq", "GPTQ 4-bit"), (r"gptq[-_]?int8", "int8", "GPTQ 8-bit"),
    (r"gptq[-_]?4bit", "gptq", "GPTQ 4-bit"), (r"gptq[-_]?8bit", "int8", "GPTQ 8-bit"),
    (r"awq[-_]?int4", "awq", "AWQ 4-bit"), (r"awq[-_]?4bit", "awq", "AWQ 4-bit"), (r"awq", "awq", "AWQ 4-bit"),
    (r"gptq", "gptq", "GPTQ 4-bit"), (r"int4[-_]?awq", "awq", "AWQ 4-bit"),
    (r"fp8[-_]dynamic", "fp8", "FP8 (dynamic activations)"), (r"fp8[-_]block", "fp8", "FP8 (block scales)"),
    (r"fp8[-_]kv", "fp8", "FP8"), (r"fp8", "fp8", "FP8"), (r"w8a8[-_]?fp8", "fp8", "FP8 W8A8"),
    (r"nvfp4", "nvfp4", "NVFP4"), (r"fp4", "nvfp4", "FP4"), (r"mxfp4", "mxfp4", "MXFP4"),
    (r"(?:unsloth[-_])?bnb[-_]4bit", "int4", "bitsandbytes 4-bit"), (r"bnb[-_]8bit", "int8", "bitsandbytes 8-bit"),
    (r"quantized\.w4a16", "int4", "INT4 W4A16"), (r"quantized\.w8a8", "int8", "INT8 W8A8"),
    (r"quantized\.w8a16", "int8", "INT8 W8A16"), (r"w4a16", "int4", "INT4 W4A16"), (r"w8a8", "int8", "INT8 W8A8"),
    (r"w8a16", "int8", "INT8 W8A16"), (r"int4", "int4", "INT4"), (r"int8", "int8", "INT8"),
    (r"4bit", "int4", "4-bit"), (r"8bit", "int8", "8-bit"), (r"w4afp8", "int4", "INT4 weights, FP8 activations"),
    (r"bf16", "bf16", "BF16"), (r"fp16", "fp16", "FP16"),
    # conversion tags that say nothing about the weights' width: stripped, no precision
    (r"trtllm", "", "TensorRT-LLM checkpoint"), (r"mtp", "", "with its MTP layers"),
)


@cache
def _suffix_re() -> re.Pattern[str]:
    """All suffixes as one pattern (compiled on first use: start-up cost): at the earliest position where one
    of them runs to the end of the name, so `-FP8-Dynamic` wins over `-Dynamic`-less `-FP8`."""
    return re.compile("[-_.](?:" + "|".join(f"(?P<s{i}>{pat})" for i, (pat, _, _) in enumerate(_SUFFIXES)) + ")$",
                      re.I)
# GGUF file or repo names: `Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf`, `…-GGUF`. Q8_0 is 8.5 bits per weight;
# 4-bit K-quants ~4.5-4.9: the nearest formats tpdoctor sizes; other types are not guessed.
_GGUF_TYPE = re.compile(r"[-_.](I?Q[2-8](?:_[0-9A-Z]+)*|F16|BF16|F32)$", re.I)
_GGUF_FORMAT = {"q8": "int8", "q4": "int4", "iq4": "int4", "f16": "fp16", "bf16": "bf16", "f32": "fp32"}
_CACHE_DIR = re.compile(r"^models--([^/]+?)--(.+)$")
_SHARD = re.compile(r"[-_.]0*\d+-of-0*\d+$", re.I)


@dataclass(frozen=True)
class NameHint:
    """What a model reference names: lookup candidates (best first) and the precision its suffix implies."""

    ref: str
    candidates: tuple[str, ...]
    precision: str | None = None  # weights format implied by the name (fp8, awq, gptq, int4, int8, nvfp4 …)
    label: str | None = None  # the suffix as a reader would say it ("GPTQ 4-bit")
    suffix: str | None = None  # the text stripped from the name
    is_path: bool = False


def is_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref.count("/") >= 2 or ref.endswith(".gguf")


def path_tail(ref: str) -> list[str]:
    """`/a/b/org/Name` -> [`org/Name`, `Name`]; a Hub cache directory (`models--org--name`) -> its repo id."""
    parts = [p for p in ref.replace("\\", "/").split("/") if p and p not in (".", "..", "~")]
    for i, part in enumerate(parts):  # …/hub/models--org--name/snapshots/<sha>
        m = _CACHE_DIR.match(part)
        if m:
            return [f"{m.group(1)}/{m.group(2)}", m.group(2)]
        if part == "snapshots" and i:
            parts = parts[:i]
            break
    if not parts:
        return []
    return [f"{parts[-2]}/{parts[-1]}", parts[-1]] if len(parts) >= 2 else [parts[-1]]


def strip_quant(name: str) -> tuple[str, str | None, str | None, str | None]:
    """(name without its quantisation suffixes, format, label, stripped text). Repeats: `-AWQ-INT4` etc."""
    fmt = label = None
    stripped = ""
    base = name
    while True:
        m = _suffix_re().search(base)
        if not m or m.start() == 0 or m.lastgroup is None:
            return base, fmt, label, stripped or None
        _, f, lab = _SUFFIXES[int(m.lastgroup[1:])]
        fmt, label = fmt or (f or None), label or (lab if f else None)
        stripped = base[m.start():] + stripped
        base = base[:m.start()]


def _gguf(name: str) -> tuple[str, str | None, str | None]:
    """(name without GGUF markers, format of its quant type, label)."""
    base = re.sub(r"\.gguf$", "", name, flags=re.I)
    base = _SHARD.sub("", base)
    fmt = label = None
    m = _GGUF_TYPE.search(base)
    if m:
        qtype = m.group(1).upper()
        label = f"GGUF {qtype}"
        fmt = _GGUF_FORMAT.get(qtype.split("_")[0].lower())
        base = base[:m.start()]
    base = re.sub(r"[-_.]UD$", "", base)  # unsloth's "dynamic" GGUF quants: DeepSeek-R1-0528-UD-IQ2_XXS
    if re.search(r"[-_.]gguf$", base, re.I):
        base = re.sub(r"[-_.]gguf$", "", base, flags=re.I)
        label = label or "GGUF"
    return base, fmt, label


@lru_cache(maxsize=4096)  # a NameHint is immutable; a fleet names the same few models thousands of times
def parse(ref: str) -> NameHint:
    text = ref.strip().strip("'\"").rstrip("/")
    text = re.sub(r"^(?:https?://)?(?:huggingface\.co|hf\.co)/", "", text)
    text = re.sub(r"^hf://", "", text)
    tag = re.search(r":((?:I?Q[2-8]|F16|BF16|F32)[0-9A-Z_]*)$", text, re.I)  # `repo:Q4_K_M`: a GGUF file of repo
    if tag:
        text = f"{text[:tag.start()]}-{tag.group(1)}.gguf"
    path = is_path(text) or "models--" in text
    raw = path_tail(text) if path else [text]
    raw = [r.replace("___", ".") for r in raw]  # ModelScope's cache spells '.' as '___'
    cands: list[str] = []
    precision = label = suffix = None
    for r in raw:
        org, _, name = r.rpartition("/")
        prefix = f"{org}/" if org else ""
        gguf_fmt = gguf_label = None
        if name.lower().endswith(".gguf") or re.search(r"gguf", name, re.I):
            name, gguf_fmt, gguf_label = _gguf(name)
        base, fmt, lab, stripped = strip_quant(name)
        for cand in (prefix + name, prefix + base):  # as written first: a catalogued quantised repo wins
            if cand and cand not in cands:
                cands.append(cand)
        precision = precision or gguf_fmt or fmt
        label = label or gguf_label or lab
        suffix = suffix or stripped
    return NameHint(ref=ref, candidates=tuple(cands), precision=precision, label=label, suffix=suffix,
                    is_path=path)
