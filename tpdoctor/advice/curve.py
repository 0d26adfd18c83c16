"""The TP curve: per-token latency and tokens/s of one model on one SKU at every valid TP size, over NVLink and
over PCIe, and the point where more TP stops paying.

The PCIe column is a dual-socket 8-GPU PCIe server (the common shape, e.g. the rtx4090/L40S boxes of
docs/figures.md §1): TP=2 under one PCIe switch (PIX, peer-to-peer), TP=4 inside one socket (NODE), TP=8 across
the sockets (SYS; NCCL's ring crosses the socket link twice, its other steps stay inside a socket). The NVLink
column is the SKU's own NVLink: every pair on the switch for NVSwitch boards, pairs only for NVLink bridges
(TP above 2 then crosses PCIe, so the column stops at 2), absent for SKUs without NVLink.

**Where TP stops paying**: going from one valid TP to the next must cut the per-token latency by at least
`PAYS_PCT`; the knee is the last TP reached by such steps. Past it, more GPUs buy little latency and lose
tokens/s per GPU — TP=1 replicas or a smaller TP serve more per GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tpdoctor.advice import costmodel
from tpdoctor.advice.costmodel import Prediction
from tpdoctor.advice.engines import Engine
from tpdoctor.llm.models import ModelSpec
from tpdoctor.model import skus

PAYS_PCT = 15.0  # a TP step must cut per-token latency by at least this much to "pay"
PCIE_NODE = {2: ("PIX", None), 4: ("NODE", None), 8: ("SYS", "NODE")}  # path, ring-local class


@dataclass(frozen=True)
class CurvePoint:
    tp: int
    nvlink: Prediction | None  # None: not possible over this SKU's NVLink
    pcie: Prediction | None  # None: TP above 8 on one PCIe server
    fits: bool | None  # weights + KV + overhead fit each GPU at this TP (None: not sized)


@dataclass(frozen=True)
class Curve:
    sku: str
    dtype: str
    batch: int
    context: int
    points: tuple[CurvePoint, ...]
    knee_nvlink: int | None
    knee_pcie: int | None
    fastest_nvlink: int | None
    fastest_pcie: int | None


def nvlink_path(sku: skus.Sku, tp: int) -> costmodel.GroupPath | None:
    """This SKU's healthy NVLink for a group of `tp`, or None when such a group cannot be all-NVLink."""
    if not sku.has_nvlink or not sku.nvlink.expected:
        return None
    if sku.nvlink.topology == "bridge" and tp > 2:
        return None
    return costmodel.nominal_path(f"NV{sku.nvlink.expected}", sku)


def pcie_path(sku: skus.Sku, tp: int) -> costmodel.GroupPath | None:
    if tp not in PCIE_NODE:
        return None
    path, local = PCIE_NODE[tp]
    return costmodel.nominal_path(path, sku, local=local)


def knee(points: Sequence[tuple[int, float]]) -> tuple[int | None, int | None]:
    """(the last TP reached by steps that each cut latency by PAYS_PCT, the fastest TP) of (tp, ms) pairs."""
    if not points:
        return None, None
    last = points[0][0]
    for (_, a), (tp_b, b) in zip(points, points[1:]):
        if (a - b) / a * 100 < PAYS_PCT:
            break
        last = tp_b
    return last, min(points, key=lambda p: p[1])[0]


def curve(spec: ModelSpec, sku: skus.Sku, *, dtype: str, tps: Sequence[int], batch: int = 1, context: int = 1024,
          engine: Engine | None = None, kv_dtype: str = "bf16", gpu_memory_mib: int | None = None,
          max_model_len: int | None = None) -> Curve:
    """Predictions at every TP of `tps` over NVLink and over PCIe."""
    out: list[CurvePoint] = []
    common = dict(dtype=dtype, sku=sku, batch=batch, context=context, kv_dtype=kv_dtype, engine=engine)
    for tp in sorted(set(tps)):
        mem = dict(gpu_memory_mib=gpu_memory_mib, max_model_len=max_model_len)
        if tp == 1:
            one = costmodel.predict(spec, tp=1, path=None, label="TP=1", **common, **mem)  # type: ignore[arg-type]
            out.append(CurvePoint(1, one if sku.has_nvlink else None, one, _fits(one)))
            continue
        nv, pc = nvlink_path(sku, tp), pcie_path(sku, tp)
        p_nv = costmodel.predict(spec, tp=tp, path=nv, label=f"TP={tp} {nv.path}", **common, **mem) if nv else None  # type: ignore[arg-type]
        p_pc = costmodel.predict(spec, tp=tp, path=pc, label=f"TP={tp} {pc.path}", **common, **mem) if pc else None  # type: ignore[arg-type]
        if p_nv is None and p_pc is None:
            continue
        out.append(CurvePoint(tp, p_nv, p_pc, _fits(p_nv or p_pc)))
    usable = [p for p in out if p.fits is not False]
    kn, fn = knee([(p.tp, p.nvlink.per_token_ms) for p in usable if p.nvlink is not None])
    kp, fp = knee([(p.tp, p.pcie.per_token_ms) for p in usable if p.pcie is not None])
    return Curve(sku.key, dtype, batch, context, tuple(out), kn, kp, fn, fp)


def _fits(p: Prediction | None) -> bool | None:
    return p.memory.fits if p is not None and p.memory is not None else None
