"""Per-token decode cost of a TP group, and of N independent TP=1 replicas — what every recommendation rests on.

The model itself is `advice/decode.py` (one step, term by term) over `collectives.py` (all-reduce by path
class, GPU generation and implementation), `engines.py` (the fixed cost that does not shrink with TP, CUDA graphs
vs eager), `quant.py` (weight formats and their dequantisation cost) and `hardware.py` (HBM and FLOP/s per
SKU). Its open constants are fitted, and its error measured, against published decode measurements:
`benchmarks/costmodel_vs_published.py`, docs/costmodel.md.

This module keeps the face the rest of tpdoctor uses: a `GroupPath` (the weakest path of a group and its
bandwidth, measured or nominal) and `predict`, which returns a `Prediction` with the arithmetic as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.advice import collectives, decode, engines, hardware, quant, uncertainty
from tpdoctor.advice.engines import Engine
from tpdoctor.advice.hardware import GpuPerf
from tpdoctor.llm.models import ModelSpec
from tpdoctor.llm.sizing import MemoryEstimate, estimate
from tpdoctor.model import skus
from tpdoctor.model.topology import PathKind, path_kind, path_nvlinks

# NVLink app-level efficiency ≈ 80% of line rate (NVIDIA/nccl#1054); PCIe and network the same kind of
# figure for their class (docs/figures.md §0-§2).
EFFICIENCY: dict[PathKind, float] = {
    PathKind.NV: 0.8, PathKind.PIX: 0.85, PathKind.PXB: 0.85, PathKind.PHB: 0.8,
    PathKind.NODE: 0.7, PathKind.SYS: 0.6, PathKind.NET: 0.9,
}
# Small-message NCCL latency of a two-GPU group by path class (collectives.py), kept for callers that quote one.
LATENCY_US: dict[PathKind, float] = {k: collectives.nccl_latency_us(k.value if k is not PathKind.NV else "NV2", 2)
                                     for k in PathKind}
ACT_BYTES = decode.ACT_BYTES
NET_GBPS = 50.0  # 400 Gb/s per GPU (EFA v4 / NDR), per direction
DEFAULT_CONTEXT = 1024


@dataclass(frozen=True)
class GroupPath:
    """The link a TP group's collectives are limited by."""

    path: str  # weakest path in topo -m vocabulary: NV12, PHB, SYS …
    bw_gbps: float  # per direction, as used (effective)
    source: str  # measured | nominal
    latency_us: float  # NCCL small-message latency of the class (for messages; the model uses collectives.py)
    local: str | None = None  # the class of the group's other ring links when better (two sockets, one bad pair)

    @property
    def kind(self) -> PathKind:
        return path_kind(self.path)


def nominal_path(path: str, sku: skus.Sku | None, nominal_gbps: float | None = None,
                 local: str | None = None) -> GroupPath:
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
    return GroupPath(path, rate * EFFICIENCY[kind], "nominal", LATENCY_US[kind], local)


def measured_path(path: str, busbw_gbps: float, local: str | None = None) -> GroupPath:
    return GroupPath(path, busbw_gbps, "measured", LATENCY_US[path_kind(path)], local)


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
    compute_ms_per_token: float  # everything but the all-reduces
    per_token_ms: float  # one decode step: the time between two tokens of one stream
    tokens_per_s_per_stream: float
    tokens_per_s_total: float  # all streams of all replicas
    allreduce_share: float
    memory: MemoryEstimate | None
    batch: int = 1  # streams per TP group
    weights_ms: float = 0.0
    gemm_compute_ms: float = 0.0
    attention_ms: float = 0.0
    fixed_ms: float = 0.0
    allreduce_impl: str = "none"  # custom | nccl | net | none
    compute_bound: bool = False
    engine: str = "vllm"
    per_token_ms_low: float = 0.0  # the 80% interval (advice/uncertainty.py)
    per_token_ms_high: float = 0.0
    regime: str = "tp1"  # which cross-validated interval applies: tp1 | tp_nvlink | tp_pcie | eager
    explain: tuple[str, ...] = field(default=(), compare=False)

    @property
    def tokens_per_s_range(self) -> tuple[float, float]:
        """tokens/s of all streams at the interval's ends (slow end first)."""
        k = self.batch * self.replicas * 1e3
        return k / self.per_token_ms_high, k / self.per_token_ms_low


def gpu_of(sku: skus.Sku | None, hbm_tbps: float | None) -> GpuPerf:
    if sku is not None:
        return hardware.perf(sku)
    if hbm_tbps is None:
        raise ValueError("predict needs a SKU or an HBM bandwidth")
    return hardware.custom(hbm_tbps)


def predict(spec: ModelSpec, *, dtype: str, tp: int, path: GroupPath | None, sku: skus.Sku | None = None,
            hbm_tbps: float | None = None, batch: int = 1, replicas: int = 1, gpus: tuple[int, ...] = (),
            context: int = DEFAULT_CONTEXT, kv_dtype: str = "bf16", gpu_memory_mib: int | None = None,
            max_model_len: int | None = None, max_num_seqs: int | None = None, label: str | None = None,
            engine: Engine | None = None, prefill_tokens: float = 0.0) -> Prediction:
    """Decode step of one TP group running `batch` streams, and totals over `replicas` such groups."""
    fmt = quant.normalize(dtype)
    eng = engine or engines.DEFAULT
    link = decode.Link(path.path, path.bw_gbps, path.source, path.local) if path is not None and tp > 1 else None
    s = decode.step(spec, fmt=fmt, gpu=gpu_of(sku, hbm_tbps), tp=tp, batch=batch, context=context, link=link,
                    eng=eng, kv_dtype=kv_dtype, prefill_tokens=prefill_tokens)
    mem = None
    if gpu_memory_mib is not None or max_model_len is not None:
        mem = estimate(spec, dtype=quant.sizing_dtype(fmt), tp=tp, max_model_len=max_model_len,
                       max_num_seqs=max_num_seqs, kv_dtype=kv_dtype, gpu_memory_mib=gpu_memory_mib)
    msg = batch * spec.hidden * ACT_BYTES
    key = uncertainty.regime(tp, link.path if link else None, eng.graphs)
    low, high = uncertainty.interval(s.step_ms, key)
    return Prediction(
        label=label or (f"TP={tp}" + (f" × {replicas} replicas" if replicas > 1 else "")),
        tp=tp, replicas=replicas, gpus=gpus, path=link.path if link else None,
        bw_gbps=link.busbw_gbps if link else None, bw_source=link.source if link else None,
        allreduce_bytes=msg if link else 0, allreduce_us=s.allreduce_us, allreduce_ms_per_token=s.allreduce_ms,
        compute_ms_per_token=s.step_ms - s.allreduce_ms, per_token_ms=s.step_ms,
        tokens_per_s_per_stream=1e3 / s.step_ms, tokens_per_s_total=batch * replicas * 1e3 / s.step_ms,
        allreduce_share=s.allreduce_ms / s.step_ms, memory=mem, batch=batch, weights_ms=s.weights_ms,
        gemm_compute_ms=s.compute_ms, attention_ms=s.attention_ms, fixed_ms=s.fixed_ms,
        allreduce_impl=s.allreduce_impl, compute_bound=s.compute_bound,
        engine=eng.name + (f" {eng.version}" if eng.version else ""), per_token_ms_low=low, per_token_ms_high=high,
        regime=key, explain=s.explain)


def allreduce_us(n: int, message_bytes: float, gp: GroupPath, *, custom: bool = True, arch: str = "") -> float:
    """One all-reduce of `message_bytes` over `n` GPUs on this path (collectives.allreduce)."""
    return collectives.allreduce(n, message_bytes, gp.path, gp.bw_gbps, custom=custom, arch=arch,
                                 local=gp.local).us
