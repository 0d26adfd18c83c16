"""What one GPU can do for decode: memory bandwidth (`gpus.yaml` hbm_tbps) and dense tensor-core FLOP/s by
input dtype (`gpus.yaml` tflops), plus the fraction of the memory bandwidth a decode GEMV achieves.

`hbm_efficiency` is one of the cost model's fitted constants (data/costmodel.yaml;
`benchmarks/costmodel_vs_published.py` fits it on the calibration families). Physical anchors: gpt-fast measures "about
1700 GB/s" peak on an A100-80GB of 2039 GB/s (0.83; pytorch-labs/gpt-fast README), and its own bs=1 Llama-2-7B
run achieves 1397 GB/s including every non-GEMM cost (0.69 of peak).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tpdoctor.advice.params import P
from tpdoctor.model import skus


def matmul_efficiency(columns: float) -> float:
    """Achieved / peak dense FLOP/s of a decode GEMM whose output is `columns` wide on this GPU: a large GEMM
    reaches `matmul_efficiency` (stas00 MAMF 0.71-0.87, A100..B200); a narrow one — TP shrinks every GEMM's
    output by n — has too few 128-wide tiles to fill the SMs: × columns / (columns + gemm_half_columns)."""
    half = P.gemm_half_columns
    return P.matmul_efficiency * (columns / (columns + half) if half > 0 else 1.0)


@dataclass(frozen=True)
class GpuPerf:
    """A GPU as the decode model sees it."""

    key: str
    hbm_tbps: float
    tflops: dict[str, float]  # dense peak by input dtype: bf16, fp8, fp4 (absent: no such tensor cores)
    arch: str = ""
    source: str = ""

    def __hash__(self) -> int:  # frozen, but `tflops` is a dict: hash its items (decode steps are memoised)
        return hash((self.key, self.hbm_tbps, tuple(sorted(self.tflops.items())), self.arch, self.source))

    def peak_tflops(self, compute: str) -> float | None:
        """Dense peak for GEMMs whose inputs are `compute` (bf16 | fp8 | fp4); a dtype the GPU has no tensor
        cores for runs at the next wider one (fp8 on Ampere runs as bf16 after dequantisation)."""
        for dtype in {"fp4": ("fp4", "fp8", "bf16"), "fp8": ("fp8", "bf16")}.get(compute, ("bf16",)):
            if dtype in self.tflops:
                return self.tflops[dtype]
        return None

    def has_native(self, compute: str) -> bool:
        return compute == "bf16" or compute in self.tflops


@lru_cache(maxsize=1)
def _perf_table() -> dict[str, dict[str, Any]]:
    text = resources.files("tpdoctor.data").joinpath("gpus.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return {e["key"]: dict(e.get("tflops") or {}) for e in yaml.load(text, Loader=loader)}  # noqa: S506


def perf(sku: skus.Sku) -> GpuPerf:
    """The decode view of a catalogue SKU (FLOP/s empty when gpus.yaml has no published figure)."""
    raw = dict(_perf_table().get(sku.key, {}))
    source = str(raw.pop("source", ""))
    return GpuPerf(sku.key, sku.hbm_tbps, {k: float(v) for k, v in raw.items()}, sku.arch, source)


def custom(hbm_tbps: float, tflops: dict[str, float] | None = None, key: str = "custom") -> GpuPerf:
    """A GPU given only by its numbers (benchmarks, callers with a measured bandwidth)."""
    return GpuPerf(key, hbm_tbps, dict(tflops or {}))
