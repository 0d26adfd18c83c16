"""All-reduce time of one decode collective: a small message (batch × hidden × 2 B, 8 KiB-1 MiB) that is
latency-bound, by path class, GPU generation and implementation.

**NCCL** (ring, LL protocol for these sizes). NCCL's own tuning model (NVIDIA/nccl `src/graph/tuning.cc`,
`baseLatencies` / `hwLatencies`) prices a ring all-reduce as a base latency plus 2(n−1) steps of a per-hop
latency by hardware class: NVLink 0.6 µs, PCI 1.0 µs (Ring/LL). We keep that shape,
    latency = NCCL_BASE_US + 2(n−1) × HOP_US[path class],
and anchor it on end-to-end measurements (docs/figures.md §1b):
- 8×H200 NVSwitch, 32 KiB: 17.9 µs (stas00 network/benchmarks, NCCL 2.30.7) → base ≈ 9 µs after 14 NVLink
  hops and the bytes;
- 8 GPUs under PCIe Gen5 switches: ≈ 24 µs for 256 B-64 KB (voipmonitor/rtx6kpro) = 9 + 14 × 1.0 (PIX/PXB);
- 8×RTX 4090 across two sockets, no P2P (host-memory transport): 42 µs at 8 B (NVIDIA/nccl#1530) →
  (42 − 9) / 14 = 2.35 µs per SYS hop;
- PHB and NODE (through one CPU's root complex, P2P often refused): between PCI and SYS, 1.6 µs [D];
- between nodes: 47 µs for 4-512 B over NDR InfiniBand (NVIDIA/nccl#1244), flat.

**Custom one-shot all-reduce** (vLLM/SGLang custom all-reduce, TensorRT-LLM, PyTorch intra-node comm): every
GPU reads its peers' buffers over NVLink peer-to-peer and reduces locally, one kernel, no ring steps. vLLM
enables it only when all GPUs are NVLink-connected, or for two GPUs with PCIe P2P
(vllm `custom_all_reduce.py`; docs/figures.md §4), and up to 8 MiB. Measured at 512 B on H100: 9.5/9.1/10.1 µs at
TP 2/4/8 outside a CUDA graph (sgl-project/sglang#2904), 5.9 µs for MSCCL++ inside one (sglang#22734).
`custom_us` is fitted on the calibration set (benchmarks/costmodel_vs_published.py).

**Bandwidth**: 2(n−1)/n × bytes / busbw, busbw the measured group figure when given, else the path's rating
× its efficiency, capped by NCCL's LL-protocol ceiling for the generation (`llMaxBws`: Ampere 87.7, Hopper
141, Blackwell 282 GB/s per node, tuning.cc) since decode messages travel on LL.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.advice.params import P
from tpdoctor.model.topology import PathKind, path_kind

# The constants (NCCL base and hops, custom one-shot latency, LL ceilings) live in data/costmodel.yaml, read
# through `params.P`: `nccl_base_us` and `custom_us` are fitted on the calibration families.
CUSTOM_MAX_BYTES = 8 << 20  # vLLM custom all-reduce max_size


@dataclass(frozen=True)
class AllReduce:
    """One collective's time and how it was reached."""

    us: float
    latency_us: float
    impl: str  # nccl | custom | net
    detail: str


def custom_possible(path: str, n: int) -> bool:
    """Whether a custom one-shot all-reduce can run over this group: every pair on NVLink, or two GPUs with
    PCIe peer-to-peer (PIX/PXB). A group with one pair off NVLink falls back to NCCL."""
    kind = path_kind(path)
    return kind is PathKind.NV or (n == 2 and kind in (PathKind.PIX, PathKind.PXB))


def nccl_hop_us(path: str, n: int, local: str | None = None) -> float:
    """Mean per-step latency of the ring: NCCL orders the ring to cross the weakest boundary (sockets, a down
    NVLink pair) as few times as it can — twice per ring of n links — so with the rest of the group on a better
    `local` class only 2/n of the steps pay the weakest path's hop."""
    hop = P.nccl_hop_us[path_kind(path)]
    if local is None or n <= 2:
        return hop
    return 2 / n * hop + (1 - 2 / n) * min(hop, P.nccl_hop_us[path_kind(local)])


def nccl_latency_us(path: str, n: int, local: str | None = None) -> float:
    kind = path_kind(path)
    if kind is PathKind.NET:
        return P.net_latency_us
    return P.nccl_base_us + 2 * (n - 1) * nccl_hop_us(path, n, local)


def allreduce(n: int, message_bytes: float, path: str, busbw_gbps: float, *, custom: bool,
              arch: str = "", local: str | None = None) -> AllReduce:
    """Time of one all-reduce of `message_bytes` over `n` GPUs whose weakest path is `path`."""
    if n <= 1:
        return AllReduce(0.0, 0.0, "none", "single GPU")
    cap = P.ll_max_gbps.get(arch)
    bw = min(busbw_gbps, cap) if cap and message_bytes <= (1 << 20) else busbw_gbps
    transfer = 2 * (n - 1) / n * message_bytes / (bw * 1e9) * 1e6
    if custom and custom_possible(path, n) and message_bytes <= CUSTOM_MAX_BYTES:
        return AllReduce(P.custom_us + transfer, P.custom_us, "custom",
                         f"custom one-shot {P.custom_us:g} µs + 2×{n - 1}/{n}×{message_bytes:.0f} B / {bw:.0f} GB/s")
    lat = nccl_latency_us(path, n, local)
    impl = "net" if path_kind(path) is PathKind.NET else "nccl"
    how = (f"NCCL {P.nccl_base_us:g} + 2×{n - 1}×{nccl_hop_us(path, n, local):.2f} µs" if impl == "nccl"
           else f"NCCL across nodes {P.net_latency_us:g} µs")
    return AllReduce(lat + transfer, lat, impl, f"{how} + 2×{n - 1}/{n}×{message_bytes:.0f} B / {bw:.0f} GB/s")
