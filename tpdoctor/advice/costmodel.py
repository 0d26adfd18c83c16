"""Per-token decode cost of a TP group: memory-bound compute plus two all-reduces per layer.

    step time  = bytes read per GPU / (HBM bandwidth × 0.8)                        (memory-bound decode)
               + 2 × layers × ( latency(path) + 2(n−1)/n × batch × hidden × 2 B / bw(path) )

- `bw(path)` is the group's measured all-reduce busbw when a benchmark of that group (or pair) is given,
  otherwise the weakest path's nominal per-direction rating × an efficiency for its class.
- `latency(path)` is the small-message all-reduce time by path class (the decode regime is latency-bound):
  NVLink 10 µs — vLLM custom all-reduce at 512 B on H100 TP2/4/8: 9.5/9.1/10.1 µs (sgl-project/sglang#2904);
  PIX/PXB 24 µs — NCCL ≈24 µs for 256 B–64 KB on PCIe Gen5 switches (voipmonitor/rtx6kpro);
  PHB 30 µs, NODE 35 µs — between the two, derived; SYS 42 µs — NCCL 8 B on 8×RTX 4090 across sockets
  (NVIDIA/nccl#1530); NET 47 µs — NCCL 4–512 B between two nodes over NDR IB (NVIDIA/nccl#1244).
  (figures.md §1b, §4, §5.)
- NVLink app-level efficiency ≈ 80% of line rate (NVIDIA/nccl#1054); HBM: ~80-83% achievable
  (gpt-fast: A100 80GB "about 1700 GB/s" of 2039). Activations all-reduced in 16-bit whatever the weights.
This ignores prefill, sampling and scheduler overhead: it is a decode-step model for comparing placements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.llm.models import ModelSpec
from tpdoctor.llm.sizing import DTYPE_BYTES, GIB, MemoryEstimate, estimate, kv_bytes_per_token, normalize_dtype
from tpdoctor.model import skus
from tpdoctor.model.topology import PathKind, path_kind, path_nvlinks

LATENCY_US: dict[PathKind, float] = {
    PathKind.NV: 10.0, PathKind.PIX: 24.0, PathKind.PXB: 24.0, PathKind.PHB: 30.0,
    PathKind.NODE: 35.0, PathKind.SYS: 42.0, PathKind.NET: 47.0,
}
EFFICIENCY: dict[PathKind, float] = {
    PathKind.NV: 0.8, PathKind.PIX: 0.85, PathKind.PXB: 0.85, PathKind.PHB: 0.8,
    PathKind.NODE: 0.7, PathKind.SYS: 0.6, PathKind.NET: 0.9,
}
HBM_EFFICIENCY = 0.8
ACT_BYTES = 2  # activations all-reduced in bf16/fp16
NET_GBPS = 50.0  # 400 Gb/s per GPU (EFA v4 / NDR), per direction
DEFAULT_CONTEXT = 1024


@dataclass(frozen=True)
class GroupPath:
    """The link a TP group's collectives are limited by."""

    path: str  # weakest path in topo -m vocabulary: NV12, PHB, SYS …
    bw_gbps: float  # per direction, as used (effective)
    source: str  # measured | nominal
    latency_us: float

    @property
    def kind(self) -> PathKind:
        return path_kind(self.path)


def nominal_path(path: str, sku: skus.Sku | None, nominal_gbps: float | None = None) -> GroupPath:
    """Effective bandwidth and latency of a path class (rating × efficiency), for `predict --path`."""
    kind = path_kind(path)
    rate = nominal_gbps
    if rate is None:
        if kind is PathKind.NV:
            per_link = sku.nvlink.link_gbps if sku is not None and sku.nvlink.link_gbps else 25.0
            rate = path_nvlinks(path) * per_link
        elif kind is PathKind.NET:
            rate = NET_GBPS
        else:
            gen = sku.pcie_gen if sku is not None else 4
            rate = float(skus.PCIE_X16_GBPS.get(gen, 31.5))
    return GroupPath(path, rate * EFFICIENCY[kind], "nominal", LATENCY_US[kind])


def measured_path(path: str, busbw_gbps: float) -> GroupPath:
    return GroupPath(path, busbw_gbps, "measured", LATENCY_US[path_kind(path)])


def allreduce_us(n: int, message_bytes: float, gp: GroupPath) -> float:
    """Ring all-reduce time: latency + 2(n−1)/n × bytes / bw."""
    if n <= 1:
        return 0.0
    return gp.latency_us + 2 * (n - 1) / n * message_bytes / (gp.bw_gbps * 1e9) * 1e6


@dataclass(frozen=True)
class Prediction:
    label: str  # "TP=2 on GPU0+GPU1", "TP=1 × 2 replicas"
    tp: int
    replicas: int
    gpus: tuple[int, ...]
    path: str | None
    bw_gbps: float | None
    bw_source: str | None
    allreduce_bytes: int  # per collective
    allreduce_us: float  # per collective
    allreduce_ms_per_token: float
    compute_ms_per_token: float
    per_token_ms: float
    tokens_per_s_per_stream: float
    tokens_per_s_total: float  # all streams of all replicas
    allreduce_share: float
    memory: MemoryEstimate | None
    explain: tuple[str, ...] = field(default=(), compare=False)


def predict(spec: ModelSpec, *, dtype: str, tp: int, hbm_tbps: float, path: GroupPath | None,
            batch: int = 1, replicas: int = 1, gpus: tuple[int, ...] = (), context: int = DEFAULT_CONTEXT,
            kv_dtype: str = "bf16", gpu_memory_mib: int | None = None, max_model_len: int | None = None,
            max_num_seqs: int | None = None, label: str | None = None) -> Prediction:
    """Decode step time of one TP group (batch streams), and totals over `replicas` such groups."""
    d = normalize_dtype(dtype)
    weights = spec.active_params() if spec.is_moe else spec.total_params()
    linear_active = spec.linear_params(active_only=spec.is_moe)
    emb = spec.embedding_params()
    wbytes = (linear_active + emb) * DTYPE_BYTES[d] if d in ("fp32", "bf16", "fp16") \
        else linear_active * DTYPE_BYTES[d] + emb * 2
    kv_split = 1 if spec.is_mla else min(tp, spec.kv_heads)
    kv_read = batch * context * kv_bytes_per_token(spec, kv_dtype) / kv_split
    per_gpu_bytes = wbytes / tp + kv_read
    compute_ms = per_gpu_bytes / (hbm_tbps * 1e12 * HBM_EFFICIENCY) * 1e3
    msg = batch * spec.hidden * ACT_BYTES
    n_ar = 2 * spec.layers
    ar_us = allreduce_us(tp, msg, path) if (path is not None and tp > 1) else 0.0
    ar_ms = n_ar * ar_us / 1e3
    step_ms = compute_ms + ar_ms
    lines = [
        f"bytes read per GPU per step: {weights / 1e9:.2f}B {'active ' if spec.is_moe else ''}params in {d} "
        f"= {wbytes / GIB:.1f} GiB / TP {tp} + KV {batch}×{context} tokens = {per_gpu_bytes / GIB:.2f} GiB",
        f"compute (memory-bound): {per_gpu_bytes / GIB:.2f} GiB = {per_gpu_bytes / 1e9:.2f}e9 B / "
        f"({hbm_tbps:g} TB/s × {HBM_EFFICIENCY:g}) = {compute_ms:.2f} ms",
    ]
    if tp > 1 and path is not None:
        lines.append(
            f"all-reduce: {n_ar} per token (2 × {spec.layers} layers) of {batch}×{spec.hidden}×{ACT_BYTES} B "
            f"= {msg / 1024:.0f} KiB over {path.path} ({path.source} {path.bw_gbps:.1f} GB/s, "
            f"{path.latency_us:g} µs latency): {path.latency_us:g} + 2×{tp - 1}/{tp}×{msg}/{path.bw_gbps:.1f}e9 "
            f"= {ar_us:.1f} µs each → {ar_ms:.2f} ms/token")
    lines.append(f"per token: {compute_ms:.2f} + {ar_ms:.2f} = {step_ms:.2f} ms → "
                 f"{1e3 / step_ms:.0f} tok/s per stream, {batch * replicas * 1e3 / step_ms:.0f} tok/s total")
    mem = None
    if gpu_memory_mib is not None or max_model_len is not None:
        mem = estimate(spec, dtype=d, tp=tp, max_model_len=max_model_len, max_num_seqs=max_num_seqs,
                       kv_dtype=kv_dtype, gpu_memory_mib=gpu_memory_mib)
    return Prediction(
        label=label or (f"TP={tp}" + (f" × {replicas} replicas" if replicas > 1 else "")),
        tp=tp, replicas=replicas, gpus=gpus, path=path.path if path and tp > 1 else None,
        bw_gbps=path.bw_gbps if path and tp > 1 else None, bw_source=path.source if path and tp > 1 else None,
        allreduce_bytes=msg if tp > 1 else 0, allreduce_us=ar_us, allreduce_ms_per_token=ar_ms,
        compute_ms_per_token=compute_ms, per_token_ms=step_ms, tokens_per_s_per_stream=1e3 / step_ms,
        tokens_per_s_total=batch * replicas * 1e3 / step_ms, allreduce_share=ar_ms / step_ms,
        memory=mem, explain=tuple(lines))
