"""Compare the cost model with published TP=1/2/4/8 latencies.

    PYTHONPATH=. /work/venv/bin/python benchmarks/costmodel_vs_published.py

Source: NVIDIA NeMo Framework user guide, "Llama-2 Results — Inference Performance", Configuration 1
(chatbot: batch size 1–8, 128 input tokens, 20 output tokens), "Average Latency [ms]" on 1–8 × A100 80GB
SXM4 and 1–8 × H100 80GB HBM3 (TensorRT-LLM, NVSwitch nodes), TP = GPUs, PP = 1:
https://docs.nvidia.com/nemo-framework/user-guide/latest/performance/llama.html (read through the pages
corpus; only the batch-1 rows that were legible are used; the precision is not stated on the page — FP16
is assumed).

What is compared: the published figure is a whole request (prefill of 128 tokens + 20 decode steps + the
serving stack); the model predicts decode steps only. So the script prints (a) the raw error of
20 × per-token time, (b) the error after fitting one constant per-request overhead per GPU type (least
squares over its rows), and (c) the error of the TP-scaling ratio latency(TP=N)/latency(TP=1), which is
what placement decisions depend on.
"""

from __future__ import annotations

import statistics

from tpdoctor.advice import costmodel
from tpdoctor.llm.models import ModelSpec
from tpdoctor.model import skus

LLAMA2_7B = ModelSpec(name="llama-2-7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
                      intermediate=11008, vocab=32000, max_context=4096, dtype="fp16")
LLAMA2_13B = ModelSpec(name="llama-2-13b", layers=40, hidden=5120, heads=40, kv_heads=40, head_dim=128,
                       intermediate=13824, vocab=32000, max_context=4096, dtype="fp16")

# (model, GPU SKU key, path between GPUs, {TP: published average latency ms}), batch 1, 128 in / 20 out
PUBLISHED = [
    (LLAMA2_7B, "a100-sxm", "NV12", {1: 234.0, 2: 171.7, 4: 143.7, 8: 136.5}),
    (LLAMA2_7B, "h100-sxm", "NV18", {1: 153.8, 2: 128.6, 4: 107.4, 8: 97.6}),
    (LLAMA2_13B, "a100-sxm", "NV12", {1: 142.5, 2: 100.4, 4: 207.8}),
    (LLAMA2_13B, "h100-sxm", "NV18", {1: 86.4, 2: 69.7, 4: 61.4}),
]
OUTPUT_TOKENS = 20
CONTEXT = 128 + OUTPUT_TOKENS // 2  # mean context read per decode step


def predicted_ms(spec: ModelSpec, sku_key: str, path: str, tp: int) -> float:
    sku = skus.by_key(sku_key)
    assert sku is not None
    p = costmodel.predict(spec, dtype="fp16", tp=tp, hbm_tbps=sku.hbm_tbps, context=CONTEXT,
                          path=costmodel.nominal_path(path, sku) if tp > 1 else None)
    return OUTPUT_TOKENS * p.per_token_ms


def roofline_ms(spec: ModelSpec, sku_key: str) -> float:
    """The HBM floor for 20 fp16 decode steps at TP=1: nothing can be faster."""
    sku = skus.by_key(sku_key)
    assert sku is not None
    return OUTPUT_TOKENS * spec.total_params() * 2 / (sku.hbm_tbps * 1e12) * 1e3


def main() -> None:
    rows = []
    excluded = []
    for spec, sku, path, figures in PUBLISHED:
        floor = roofline_ms(spec, sku)
        if figures[1] < floor:
            excluded.append(f"{spec.name} on {sku}: TP=1 published {figures[1]:.1f} ms is below the fp16 HBM "
                            f"floor {floor:.1f} ms, so those rows cannot be fp16 decode (precision or setup "
                            "differs); shown, not scored")
        for tp, published in figures.items():
            rows.append((spec.name, sku, tp, published, predicted_ms(spec, sku, path, tp), figures[1] >= floor))
    scored = [r for r in rows if r[5]]
    overhead = {}
    for sku in sorted({r[1] for r in scored}):
        mine = [r for r in scored if r[1] == sku]
        overhead[sku] = statistics.mean((pub - pred) / OUTPUT_TOKENS for _, _, _, pub, pred, _ in mine)
    print(f"{'model':12} {'GPU':9} {'TP':>2} {'published':>9} {'predicted':>9} {'err':>6} "
          f"{'+overhead':>9} {'err':>6} {'ratio pub':>9} {'ratio pred':>10} {'err':>6}")
    raw, fitted, ratio = [], [], []
    base = {(m, s): pred for m, s, tp, _, pred, _ in rows if tp == 1}
    base_pub = {(m, s): pub for m, s, tp, pub, _, _ in rows if tp == 1}
    for model, sku, tp, pub, pred, ok in rows:
        c = overhead.get(sku, 0.0) * OUTPUT_TOKENS
        e1 = (pred - pub) / pub
        adj = pred + c
        e2 = (adj - pub) / pub
        rp = pub / base_pub[(model, sku)]
        rq = adj / (base[(model, sku)] + c)
        e3 = (rq - rp) / rp
        if ok:
            raw.append(abs(e1))
            fitted.append(abs(e2))
            if tp > 1:
                ratio.append(abs(e3))
        print(f"{model:12} {sku:9} {tp:>2} {pub:>9.1f} {pred:>9.1f} {e1:>6.0%} {adj:>9.1f} {e2:>6.0%} "
              f"{rp:>9.2f} {rq:>10.2f} {e3:>6.0%}" + ("" if ok else "  (not scored)"))
    for note in excluded:
        print("note:", note)
    print("fitted engine overhead per output token (prefill amortised + serving stack): "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(overhead.items())))
    print(f"mean |error| over scored rows: raw {statistics.mean(raw):.0%}; with the per-token overhead "
          f"{statistics.mean(fitted):.0%}; TP-scaling ratio (with overhead) {statistics.mean(ratio):.0%}")


if __name__ == "__main__":
    main()
