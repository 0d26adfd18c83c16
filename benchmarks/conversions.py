"""How each published row becomes a per-token decode step (ms), with the mean context it was read at, or why it
is left out. The rules are listed in `published.py`'s docstring and, for the held-out sources, in
data/split.yaml `conversions` — fixed with the split, before scoring."""

from __future__ import annotations

from typing import Any, Union

Result = Union[tuple[float, int, str], str]


def convert(r: dict[str, str], ctx: dict[str, Any]) -> Result:
    """(step ms, mean context tokens, how) or the reason the row is left out."""
    src, metric, v = r["source_id"], r["metric"], float(r["value"])
    if r["id"] == "P020":
        return "flagged anomalous by the research notes (Llama-3.1-70B TP2 below Llama-2-70B TP2)"
    if r["id"] == "P032":
        return "duplicate of P001 (the same single-GPU run, repeated in the older README's TP table)"
    if src == "ft_gpt_guide":
        return _convert_ft(r, ctx["ft"], ctx["seen_ft"])
    if src == "lmdeploy_a100_fp16":
        return _convert_lmdeploy(r, ctx["lm_ftl"])
    special = _new_sources(r, src, v)
    if special is not None:
        return special
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


def _new_sources(r: dict[str, str], src: str, v: float) -> Result | None:
    """The sources added in issue 24 (data/split.yaml `conversions`)."""
    if src == "vllm_issue16300":
        return v * 1e3 / 200, 100, f"{v:g} s / 200 outputs (1-token prompt)"
    if src == "tgi_issue1315":
        return v, 1024, "ms per token as published (context unknown: 1024 assumed)"
    if src == "vllm_pr3692":
        if "main branch" in r["notes"]:
            return "vLLM PR 3692 main-branch row: untuned MoE kernel configs, superseded by the PR's"
        return v * 1e3 / 128, 96, f"{v:.4g} s / 128 outputs"
    if src == "vllm_issue22331":
        return 1000 / v, 1024, "1000 / tok/s (context unknown: 1024 assumed)"
    if src in ("ttis_issue143", "ttis_issue340"):
        return v, int(r["input_len"]) + int(r["output_len"]) // 2, "TPOT at concurrency 1 as published"
    return None


def _convert_ft(r: dict[str, str], ft: dict[tuple[str, str, str, str], float], seen: set[tuple[str, str]]) -> Result:
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


def _convert_lmdeploy(r: dict[str, str], lm_ftl: dict[tuple[str, str], float]) -> Result:
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
