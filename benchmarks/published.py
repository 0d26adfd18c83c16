"""The published decode measurements (`benchmarks/data/published_decode.csv`) as per-token decode points, each with
the `tpdoctor predict` command line a user would type for it.

Every row of the CSV is a number copied verbatim from the source its `source_id` names
(`data/published_sources.yaml`). This module decides, by rules written before any residual was looked at, which
rows measure per-token decode latency (or convert to it without the model's help), converts them, and says why
every other row is left out:

- `tok_s_per_stream` at batch 1 (gpt-fast, MLC, vLLM in MLC's table, vLLM issue 22331): TPOT = 1000 / value;
- FasterTransformer GPT-20B (one table, same batch and TP): TPOT = (e2e(80 in, 200 out) − e2e(60, 20)
  − 20/68 × (e2e(128, 20) − e2e(60, 20))) / 180;
- LMDeploy rows with a 1-token prompt and 128 outputs: step = (batch × 128 / throughput − FTL) / 127;
- DeepSpeed-Inference BLOOM "msecs per token": step = value × batch;
- NIM ITL at a fixed client concurrency and tt-inference-server TPOT at concurrency 1: step = value;
- TGI issue 1315 "latency per token (ms)": step = value;
- vLLM CI latency tests (batch 8, 32 in, 128 out, e2e): step = e2e / 128; vLLM PR 3692 (benchmark_latency
  32 in, 128 out): the same; vLLM issue 16300 (1 in, 200 out): step = e2e / 200;
- static-batch throughput tables with a stated batch, ≤ 128 prompt tokens and ≥ 2048 outputs (TensorRT-LLM):
  step = batch / (tok/s per GPU × TP);
- vLLM issue 6955 (1 or 5 clients, "OUT tokens generation speed"): step = clients × 1000 / value.
Left out, with the reason printed: max-load throughput without a batch, serving ITL without a concurrency,
e2e rows whose prefill cannot be separated, MTP speculative decoding, DeepSpeed's MoQ int8, rows flagged
anomalous, superseded kernels and duplicates.

Split and families: `data/split.yaml` (frozen before fitting). Command lines: `cli_args` (this branch's
options) and `cli_args(p, main=True)` (only the options main at a090e98 has, for the "before" score).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from conversions import convert

DATA = Path(__file__).resolve().parent / "data"

GPUS = {
    "A100-SXM4-80GB": "a100-sxm", "A100-PCIe-80GB": "a100-pcie", "H100-SXM5-80GB": "h100-sxm",
    "H200-SXM-141GB": "h200-sxm", "A10G": "a10", "RTX4090": "rtx-4090", "L40S": "l40s", "A30": "a30", "T4": "t4",
    "B200": "b200", "RTX3090Ti": "rtx-3090-ti", "RTX-PRO-6000-Blackwell-Server": "rtx-pro-6000-blackwell",
}
FORMATS = {"int4-g32": "int4-g32", "int4-q4f16_1": "int4", "int4-awq": "awq"}
# (engine, version) each source ran, from the source or the engine's history (data/engines.yaml)
ENGINE_OF = {
    "gptfast_readme_d2c5d82": ("gpt-fast", "2023.11.30"), "ft_gpt_guide": ("fastertransformer", None),
    "lmdeploy_a100_fp16": ("lmdeploy", None), "bloom_inference_scripts": ("deepspeed", None),
    "nim_llm_bench_perf": ("trtllm", None), "vllm_buildkite_perf": ("vllm", "0.6.0"),
    "vllm_issue6955": ("vllm", "0.5.3"), "vllm_issue16300": ("vllm", "0.7.2"), "tgi_issue1315": ("tgi", "1.2.0"),
    "vllm_pr3692": ("vllm", "0.4.0"), "vllm_issue22331": ("vllm", "0.10.1"),
}


@dataclass(frozen=True)
class Point:
    id: str
    source: str
    family: str
    split: str  # calibration | holdout
    model: str  # as the source names it
    model_arg: str  # what `tpdoctor predict` gets: a catalogue name or a config.json path
    fmt: str
    gpu: str  # SKU key
    gpu_name: str
    path: str | None  # --path (None: the SKU's own NVLink, or TP=1)
    tp: int
    batch: int
    context: int
    engine: str
    engine_version: str | None
    kv_dtype: str  # auto | fp8
    serving: tuple[int, int] | None  # (input, output) of requests arriving continuously (--continuous-batching)
    step_ms: float
    derivation: str
    series: tuple[str, ...]


def split_table() -> dict[str, Any]:
    return dict(yaml.safe_load((DATA / "split.yaml").read_text(encoding="utf-8")))


def families() -> dict[str, tuple[str, str]]:
    """source_id -> (family, split)."""
    t = split_table()
    split_of = {f: s for s, fams in t["split"].items() for f in fams}
    return {src: (fam, split_of[fam]) for fam, srcs in t["families"].items() for src in srcs}


def load_rows() -> list[dict[str, str]]:
    with (DATA / "published_decode.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _hf_config(name: str, m: dict[str, Any]) -> dict[str, Any]:
    """The config.json a user of this model would pass (2-matrix GeLU MLPs as the gated width of equal size)."""
    inter = m["intermediate"]
    width = int(inter) if isinstance(inter, int) else int(str(inter).split()[0]) * 2 // 3 // 128 * 128
    cfg: dict[str, Any] = {
        "_name_or_path": name, "num_hidden_layers": m["layers"], "hidden_size": m["hidden"],
        "num_attention_heads": m["heads"], "num_key_value_heads": m["kv_heads"], "head_dim": m["head_dim"],
        "intermediate_size": width, "vocab_size": m["vocab"], "torch_dtype": "bfloat16",
        "tie_word_embeddings": name.startswith(("GPT-", "BLOOM")), "max_position_embeddings": 32768}
    if m.get("n_experts"):
        cfg.update(num_local_experts=m["n_experts"], num_experts_per_tok=m["experts_per_token"],
                   moe_intermediate_size=width)
    return cfg


def model_args(config_dir: Path) -> dict[str, str]:
    """Model name -> the `predict` argument: its catalogue name, or a config.json written under `config_dir`."""
    raw = yaml.safe_load((DATA / "published_models.yaml").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, m in raw.items():
        if name == "Mixtral-8x7B":
            out[name] = "mixtral-8x7b"
        elif m.get("catalogue"):
            out[name] = str(m["catalogue"])
        elif isinstance(m.get("kv_heads"), int):
            path = config_dir / f"{name}.json"
            path.write_text(json.dumps(_hf_config(name, m), indent=1), encoding="utf-8")
            out[name] = str(path)
    return out


def _path(interconnect: str, tp: int) -> str | None:
    """--path for the source's box: NVSwitch boards use the SKU's own NVLink (the default); gpt-fast's hybrid
    cube mesh a few links per pair [U: NV4]; PCIe servers whose topology the sources do not state: 2-4 GPUs under
    one CPU (NODE), 8 GPUs across two sockets with the ring's other links inside a socket (SYS/NODE) [U]."""
    if tp == 1 or interconnect in ("NVSwitch", "none"):
        return None
    if interconnect == "NVLink-mesh":
        return "NV4"
    return "SYS/NODE" if tp >= 8 else "NODE"


def points(config_dir: Path | None = None) -> tuple[list[Point], list[tuple[str, str]]]:
    """(the per-token decode points, [(row id, why it was left out)])."""
    import tempfile

    rows = load_rows()
    fam = families()
    margs = model_args(config_dir or Path(tempfile.gettempdir()) / "tpdoctor-published-configs")
    ctx = {"ft": {(r["tp"], r["batch"], r["input_len"], r["output_len"]): float(r["value"]) for r in rows
                  if r["source_id"] == "ft_gpt_guide" and r["model"] == "GPT-20B-FT"},
           "lm_ftl": {(r["model"], r["batch"]): float(r["value"]) for r in rows
                      if r["source_id"] == "lmdeploy_a100_fp16" and r["metric"] == "ttft_s"},
           "seen_ft": set()}
    out: list[Point] = []
    left: list[tuple[str, str]] = []
    for r in rows:
        if r["source_id"] not in fam:
            raise ValueError(f"{r['id']}: source {r['source_id']} is in no family of data/split.yaml")
        conv = convert(r, ctx)
        if isinstance(conv, str):
            left.append((r["id"], conv))
            continue
        step_ms, context, how = conv
        gpu = GPUS.get(r["gpu"])
        if r["model"] not in margs or gpu is None:
            left.append((r["id"], f"no architecture or GPU for {r['model']} / {r['gpu']}"))
            continue
        out.append(_point(r, fam[r["source_id"]], margs[r["model"]], gpu, step_ms, context, how))
    return out, left


def _point(r: dict[str, str], fam: tuple[str, str], model_arg: str, gpu: str, step_ms: float, context: int,
           how: str) -> Point:
    src = r["source_id"]
    tp, batch = int(r["tp"]), int(r["batch"])
    fmt = FORMATS.get(r["dtype"], r["dtype"])
    engine, version = ENGINE_OF.get(src, (r["engine"], None))
    if src == "mlc_llmperfbench":
        engine, version = ("vllm", "0.2.0") if r["engine"] == "vllm" else ("mlc-llm", None)
    elif src.startswith("gptfast") and src != "gptfast_readme_d2c5d82":
        engine = "gpt-fast"
    elif src.startswith("trtllm"):
        engine = "trtllm"
    # TensorRT-LLM FP8 engines keep an FP8 KV cache (trtllm-bench builds them so) [U for NIM]
    kv = "fp8" if fmt == "fp8" and engine == "trtllm" else "auto"
    serving = (int(r["input_len"]), int(r["output_len"])) if src == "nim_llm_bench_perf" else None
    series = (src, r["model"], r["dtype"], r["gpu"], r["engine"], str(batch),
              r["input_len"] if src != "ft_gpt_guide" else "80", r["output_len"])
    return Point(r["id"], src, fam[0], fam[1], r["model"], model_arg, fmt, gpu, r["gpu"],
                 _path(r["interconnect"], tp), tp, batch, context, engine, version, kv, serving, step_ms, how, series)


def cli_args(p: Point, *, main: bool = False) -> list[str]:
    """The `tpdoctor predict` command line for this point. `main`: only the options main at a090e98 has
    (no --engine-version, --kv-cache-dtype, --input-len/--output-len/--continuous-batching, a/b paths; its four
    engines, and --eager where the source's engine version ran without CUDA graphs)."""
    args = ["predict", p.model_arg, "--gpu", p.gpu, "--tp", str(p.tp), "--dtype", p.fmt, "--batch", str(p.batch),
            "--json"]
    if main:
        from tpdoctor.advice import engines

        prof = engines.engine(p.engine, version=p.engine_version)
        args += ["--engine", p.engine if p.engine in ("vllm", "sglang", "trtllm", "tgi") else "vllm",
                 "--context", str(p.context)]
        if not prof.graphs:
            args.append("--eager")
        if p.path:
            args += ["--path", p.path.split("/")[0]]
        return args
    args += ["--engine", p.engine]
    if p.engine_version:
        args += ["--engine-version", p.engine_version]
    if p.serving:
        args += ["--input-len", str(p.serving[0]), "--output-len", str(p.serving[1]), "--continuous-batching"]
    else:
        args += ["--context", str(p.context)]
    if p.kv_dtype != "auto":
        args += ["--kv-cache-dtype", p.kv_dtype]
    if p.path:
        args += ["--path", p.path]
    return args


def series_groups(pts: list[Point]) -> dict[tuple[str, ...], list[Point]]:
    """TP-scaling series with at least two TP sizes."""
    groups: dict[tuple[str, ...], list[Point]] = defaultdict(list)
    for p in pts:
        groups[p.series].append(p)
    return {k: sorted(v, key=lambda p: p.tp) for k, v in groups.items() if len({p.tp for p in v}) > 1}
