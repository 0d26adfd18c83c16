"""The published decode measurements (`benchmarks/data/published_decode.csv`) as per-token decode latencies.

Every row of the CSV is a number copied verbatim from the source its `source_id` names
(`data/published_sources.yaml`: repository, path and commit, or URL). This module decides, by rules written
before any residual was looked at, which rows measure per-token decode latency (or convert to it without the
model's help), converts them, and says why every other row is left out:

- `tok_s_per_stream` at batch 1 with a prompt of ≤ 7 tokens (gpt-fast, MLC, vLLM in MLC's table):
  TPOT = 1000 / value (the one prefill step is ≤ 0.5% of 200-256 steps);
- FasterTransformer GPT-20B (one table, same batch and TP): TPOT = (e2e(80 in, 200 out) − e2e(60, 20)
  − 20/68 × (e2e(128, 20) − e2e(60, 20))) / 180: the difference of two runs removes the first prefill and
  the last row's slope removes the 20 extra prompt tokens per stream;
- LMDeploy rows with a 1-token prompt and 128 outputs: step = (batch × 128 / throughput − FTL) / 127;
- DeepSpeed-Inference BLOOM "msecs per token" (greedy, 100 tokens, a few-token prompt): step = value × batch;
- NIM ITL (mean inter-token latency, first token excluded) at a fixed client concurrency: step = value;
- vLLM CI latency tests (batch 8, 32 in, 128 out, e2e): step = e2e / 128 (8 × 32 prompt tokens ≈ one or two
  decode steps of work: ≤ 2% high);
- static-batch throughput tables with a stated batch, ≤ 128 prompt tokens and ≥ 2048 outputs (TensorRT-LLM
  v0.5/v0.9): step = batch / (tok/s per GPU × TP); prefill of batch × 128 tokens is a few % of 2048 steps;
- vLLM issue 6955 (1 or 5 clients, "OUT tokens generation speed"): step = clients × 1000 / value.
Left out, with the reason printed: max-load throughput without a batch, serving ITL without a concurrency,
e2e rows whose prefill cannot be separated (vLLM PR 2192 at 64 × 256 prompt tokens; GPT-89B/175B), MTP
speculative decoding (DeepSeek-R1), DeepSpeed's MoQ int8 (an undocumented kernel the source reports slower than
fp16), rows the research notes flag as anomalous (gpt-fast Llama-3.1-70B TP2), and duplicates.

Split (from the research notes, `data/published_NOTES.md`, fixed before fitting): calibrate on gpt-fast's two
TP tables (head and the NCCL version d2c5d82), FasterTransformer GPT-20B at batch 1 and 8, and MLC's
A100-PCIe fp16 rows (MLC and vLLM columns); hold back everything else.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from tpdoctor.advice import hardware, quant
from tpdoctor.advice.engines import Engine
from tpdoctor.advice.hardware import GpuPerf
from tpdoctor.llm.models import ModelSpec, lookup
from tpdoctor.model import skus

DATA = Path(__file__).resolve().parent / "data"

# What each engine did in the source's run (flags from the source or the engine's docs at that version).
ENGINES = {
    "gpt-fast": Engine("gpt-fast", lm_head_sharded=False, quantized_lm_head=True, weight_only_kernel="torch",
                       note="torch.compile (CUDA graphs); ENABLE_INTRA_NODE_COMM"),
    "gpt-fast-nccl": Engine("gpt-fast-nccl", custom_allreduce=False, lm_head_sharded=False, quantized_lm_head=True,
                            weight_only_kernel="torch",
                            note="README of 2023-11-30: NCCL all-reduce before pytorch#114001"),
    "fastertransformer": Engine("fastertransformer", custom_allreduce=False,
                                note="C++ runtime, NCCL (custom all-reduce only for 8-way TP, off by default [U])"),
    "mlc-llm": Engine("mlc-llm", custom_allreduce=False, quantized_lm_head=True,
                      note="TVM Unity, --use-cuda-graph, NCCL"),
    "vllm-0.2": Engine("vllm-0.2", graphs=False, custom_allreduce=False,
                       note="vLLM acbed3e (2023-10): no CUDA graphs (#1926 came 2023-12), NCCL, Ray workers"),
    "vllm": Engine("vllm", note="vLLM >= 0.4: CUDA graphs, custom all-reduce"),
    "lmdeploy": Engine("lmdeploy", custom_allreduce=False, note="TurboMind C++ runtime v0.1.0a1, NCCL [U]"),
    "deepspeed-inference": Engine("deepspeed-inference", custom_allreduce=False,
                                  note="fused kernels, NCCL [U: CUDA graphs not stated]"),
    "trtllm": Engine("trtllm", note="TensorRT-LLM C++ runtime, custom all-reduce plugin"),
    "nim-trtllm": Engine("nim-trtllm", note="NIM on TensorRT-LLM: custom all-reduce"),
}
GPUS = {
    "A100-SXM4-80GB": "a100-sxm", "A100-PCIe-80GB": "a100-pcie", "H100-SXM5-80GB": "h100-sxm",
    "H200-SXM-141GB": "h200-sxm", "A10G": "a10", "RTX4090": "rtx-4090", "L40S": "l40s", "A30": "a30", "T4": "t4",
    "B200": "b200",
}
# RTX 3090 Ti is not in gpus.yaml: 384-bit GDDR6X at 21 Gb/s = 1008 GB/s; GA102 FP16 tensor (FP32 acc) [U]
EXTRA_GPUS = {"RTX3090Ti": hardware.GpuPerf("rtx-3090ti", 1.008, {"bf16": 80.0}, "ampere", "spec arithmetic")}
FORMATS = {"int4-g32": "int4-g32", "int4-q4f16_1": "int4", "int4-awq": "awq"}
LINK_RATE = {"a100-sxm": 12 * 25.0, "h100-sxm": 18 * 25.0, "h200-sxm": 18 * 25.0, "b200": 18 * 50.0}
CALIBRATION_SOURCES = {"gptfast_readme_head", "gptfast_readme_d2c5d82"}


@dataclass(frozen=True)
class Point:
    id: str
    source: str
    family: str
    model: str
    spec: ModelSpec
    fmt: str
    gpu: GpuPerf
    gpu_name: str
    interconnect: str
    path: str | None
    local: str | None  # the ring's other links (two-socket PCIe boxes: within a socket)
    busbw_gbps: float
    tp: int
    batch: int
    context: int
    engine: Engine
    kv_dtype: str  # fp8 where the source's engine stores an FP8 KV cache with FP8 weights
    prefill_tokens: float  # prompt tokens of other requests folded into each step (serving at a concurrency)
    step_ms: float  # published per-token (per-step) decode latency, after conversion
    derivation: str
    split: str  # calibration | holdout
    series: tuple[str, ...]  # same source/model/dtype/GPU/engine/batch/lengths: the TP-scaling series


def family(source: str) -> str:
    return "gpt-fast" if source.startswith("gptfast") else source.split("_")[0]


def _specs() -> dict[str, ModelSpec]:
    raw = yaml.safe_load((DATA / "published_models.yaml").read_text(encoding="utf-8"))
    out: dict[str, ModelSpec] = {}
    for name, m in raw.items():
        if not isinstance(m.get("kv_heads"), int):
            continue  # MLA (DeepSeek-R1): only in rows left out
        inter = m["intermediate"]
        gated = isinstance(inter, int)
        width = int(inter) if gated else int(str(inter).split()[0]) * 2 // 3  # 4h GeLU MLP: 2 matrices = 3 × (8h/3)
        tied = name == "GPT-20B-FT" or name.startswith(("GPT-", "BLOOM"))
        moe = m.get("n_experts", 0) or 0
        out[name] = ModelSpec(
            name=name, layers=m["layers"], hidden=m["hidden"], heads=m["heads"], kv_heads=m["kv_heads"],
            head_dim=m["head_dim"], intermediate=width, vocab=m["vocab"], tied_embeddings=tied,
            experts=moe, experts_per_token=m.get("experts_per_token", 0) or 0,
            moe_intermediate=width if moe else 0)
    mixtral = lookup("mixtral-8x7b")
    if mixtral is not None:
        out["Mixtral-8x7B"] = mixtral
    return out


def _gpu(name: str) -> GpuPerf | None:
    if name in EXTRA_GPUS:
        return EXTRA_GPUS[name]
    sku = skus.by_key(GPUS.get(name, ""))
    return hardware.perf(sku) if sku is not None else None


def _path(interconnect: str, tp: int, gpu: GpuPerf) -> tuple[str | None, float]:
    """The weakest path a TP group of this source had, and its nominal busbw. PCIe servers: 2-4 GPUs under one
    CPU (NODE), 8 GPUs across two sockets (SYS) — the sources do not say [U]."""
    if tp == 1:
        return None, 0.0
    if interconnect in ("NVSwitch", "NVLink-mesh"):
        links = {"a100-sxm": 12, "h100-sxm": 18, "h200-sxm": 18, "b200": 18}.get(gpu.key, 12)
        if interconnect == "NVLink-mesh":
            links = 4  # hybrid cube mesh: a few links per pair [U]
        return f"NV{links}", links * (50.0 if gpu.key == "b200" else 25.0) * 0.8
    gen_gbps = 63.0 if gpu.key in ("rtx-pro-6000-blackwell",) else 31.5
    return ("SYS" if tp >= 8 else "NODE"), gen_gbps * 0.7


def _engine(row: dict[str, str]) -> Engine:
    src, eng = row["source_id"], row["engine"]
    if src == "gptfast_readme_d2c5d82":
        return ENGINES["gpt-fast-nccl"]
    if eng == "vllm" and src == "mlc_llmperfbench":
        return ENGINES["vllm-0.2"]
    return ENGINES.get(eng, ENGINES["vllm"])


def load_rows() -> list[dict[str, str]]:
    with (DATA / "published_decode.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def points() -> tuple[list[Point], list[tuple[str, str]]]:
    """(the per-token decode points, [(row id, why it was left out)])."""
    rows = load_rows()
    specs = _specs()
    ft = {(r["tp"], r["batch"], r["input_len"], r["output_len"]): float(r["value"]) for r in rows
          if r["source_id"] == "ft_gpt_guide" and r["model"] == "GPT-20B-FT"}
    lm_ftl = {(r["model"], r["batch"]): float(r["value"]) for r in rows
              if r["source_id"] == "lmdeploy_a100_fp16" and r["metric"] == "ttft_s"}
    out: list[Point] = []
    left: list[tuple[str, str]] = []
    seen_ft: set[tuple[str, str]] = set()
    for r in rows:
        conv = _convert(r, ft, lm_ftl, seen_ft)
        if isinstance(conv, str):
            left.append((r["id"], conv))
            continue
        step_ms, context, how = conv
        spec = specs.get(r["model"])
        gpu = _gpu(r["gpu"])
        if spec is None or gpu is None:
            left.append((r["id"], f"no architecture or GPU figures for {r['model']} / {r['gpu']}"))
            continue
        tp, batch = int(r["tp"]), int(r["batch"])
        path, bw = _path(r["interconnect"], tp, gpu)
        local = "NODE" if path == "SYS" else None
        fmt = quant.normalize(FORMATS.get(r["dtype"], r["dtype"]))
        split = "calibration" if _calibrates(r) else "holdout"
        eng = _engine(r)
        # TensorRT-LLM FP8 engines keep an FP8 KV cache (trtllm-bench builds them so; sources.yaml) [U for NIM]
        kv_dtype = "fp8" if fmt == "fp8" and eng.name in ("trtllm", "nim-trtllm") else "bf16"
        # NIM serves at a fixed client concurrency C: the C − 1 other requests' prompts are prefilled inside the
        # decode steps (in-flight batching), P / O prompt tokens per answer token each
        prefill = ((batch - 1) * int(r["input_len"]) / int(r["output_len"])
                   if r["source_id"] == "nim_llm_bench_perf" else 0.0)
        series = (r["source_id"], r["model"], r["dtype"], r["gpu"], r["engine"], str(batch),
                  r["input_len"] if r["source_id"] != "ft_gpt_guide" else "80", r["output_len"])
        out.append(Point(r["id"], r["source_id"], family(r["source_id"]), r["model"], spec, fmt, gpu, r["gpu"],
                         r["interconnect"], path, local, bw, tp, batch, context, eng, kv_dtype, prefill, step_ms, how,
                         split, series))
    return out, left


def _calibrates(r: dict[str, str]) -> bool:
    if r["source_id"] in CALIBRATION_SOURCES:
        return True
    if r["source_id"] == "ft_gpt_guide":
        return r["batch"] in ("1", "8")
    return r["source_id"] == "mlc_llmperfbench" and r["gpu"] == "A100-PCIe-80GB" and r["dtype"] == "fp16"


def _convert(r: dict[str, str], ft: dict[tuple[str, str, str, str], float], lm_ftl: dict[tuple[str, str], float],
             seen_ft: set[tuple[str, str]]) -> tuple[float, int, str] | str:
    """(step ms, mean context tokens, how) or the reason the row is left out."""
    src, metric, v = r["source_id"], r["metric"], float(r["value"])
    if r["id"] == "P020":
        return "flagged anomalous by the research notes (Llama-3.1-70B TP2 below Llama-2-70B TP2)"
    if r["id"] == "P032":
        return "duplicate of P001 (the same single-GPU run, repeated in the older README's TP table)"
    if src == "ft_gpt_guide":
        return _convert_ft(r, ft, seen_ft)
    if src == "lmdeploy_a100_fp16":
        return _convert_lmdeploy(r, lm_ftl)
    if metric == "tok_s_per_stream" and r["batch"] == "1" and src != "trtllm_dsr1_blog":
        lin, lout = int(r["input_len"] or 0), int(r["output_len"] or 0)
        return 1000 / v, lin + lout // 2, "1000 / tok/s"
    if src == "bloom_inference_scripts":
        if r["dtype"] == "int8":
            return "DeepSpeed MoQ int8: kernel not documented, reported slower than fp16 (not modelled)"
        b = int(r["batch"])
        return v * b, 50, f"{v:g} ms × batch {b}"
    if src == "nim_llm_bench_perf" and metric == "tpot_ms":
        return v, int(r["input_len"]) + int(r["output_len"]) // 2, "ITL as published"
    if src == "vllm_buildkite_perf" and metric == "e2e_latency":
        return v / int(r["output_len"]), int(r["input_len"]) + int(r["output_len"]) // 2, "e2e / 128 outputs"
    if src == "vllm_issue6955":
        b = int(r["batch"])
        return b * 1000 / v, 1000, f"{b} client(s) × 1000 / tok/s (context unknown: 1000 assumed)"
    if src == "trtllm_h200launch_blog":
        return "TensorRT-LLM v0.5 preliminary numbers, superseded by v0.6+ GQA kernels (the source's caveat)"
    if metric == "tok_s_per_gpu" and r["batch"]:
        lin, lout, b, tp = int(r["input_len"]), int(r["output_len"]), int(r["batch"]), int(r["tp"])
        if lin > 128 or lout < 2048:
            return f"static-batch throughput with a {lin}-token prompt and {lout} outputs: prefill not negligible"
        return b / (v * tp) * 1e3, lin + lout // 2, f"batch {b} / ({v:g} tok/s/GPU × TP {tp})"
    return _left_reason(r)


def _convert_ft(r: dict[str, str], ft: dict[tuple[str, str, str, str], float],
                seen: set[tuple[str, str]]) -> tuple[float, int, str] | str:
    if r["model"] != "GPT-20B-FT":
        return "e2e of 512-token prompts and 32 outputs: prefill cannot be separated"
    tp, b = r["tp"], r["batch"]
    need = [(tp, b, "80", "200"), (tp, b, "60", "20"), (tp, b, "128", "20")]
    if (r["input_len"], r["output_len"]) != ("80", "200"):
        return "the (80, 200) row of its batch and TP is the point; this row only enters its difference or repeats it"
    if any(k not in ft for k in need) or (tp, b) in seen:
        return "FasterTransformer row without the (60, 20) and (128, 20) rows of its batch and TP"
    seen.add((tp, b))
    long, short, prompt = (ft[k] for k in need)
    step = (long - short - 20 / 68 * (prompt - short)) / 180
    return step, 180, f"({long:g} − {short:g} − 20/68 × ({prompt:g} − {short:g})) / 180"


def _convert_lmdeploy(r: dict[str, str], lm_ftl: dict[tuple[str, str], float]) -> tuple[float, int, str] | str:
    if r["metric"] == "ttft_s":
        return "first-token latency: used inside the LMDeploy conversion"
    if r["input_len"] != "1":
        return "LMDeploy row with a 128-token prompt: the 1-token-prompt row of the same batch is used"
    b, thr = int(r["batch"]), float(r["value"])
    ftl = lm_ftl.get((r["model"], r["batch"]))
    if ftl is None:
        return "no first-token latency for this row"
    step = (b * 128 / thr - ftl) / 127 * 1e3
    return step, 65, f"({b} × 128 / {thr:g} − {ftl:g} s) / 127"


def _left_reason(r: dict[str, str]) -> str:
    src, metric = r["source_id"], r["metric"]
    if src == "trtllm_dsr1_blog":
        return "MTP speculative decoding: tokens/s/user counts accepted draft tokens"
    if src == "vllm_pr2192":
        return "e2e of 256-token prompts at batch 32-64: prefill cannot be separated"
    if metric == "tok_s_total" and not r["batch"]:
        return "max-load throughput without a batch size"
    if metric == "tpot_ms":
        return "serving ITL at Poisson load: concurrency not published"
    if metric == "ttft_ms":
        return "first-token latency, not decode"
    return f"metric {metric} not convertible"


def series_groups(pts: list[Point]) -> dict[tuple[str, ...], list[Point]]:
    """TP-scaling series with at least two TP sizes."""
    groups: dict[tuple[str, ...], list[Point]] = defaultdict(list)
    for p in pts:
        groups[p.series].append(p)
    return {k: sorted(v, key=lambda p: p.tp) for k, v in groups.items() if len({p.tp for p in v}) > 1}
