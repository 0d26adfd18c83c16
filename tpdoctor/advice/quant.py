"""Weight formats as decode sees them: bytes streamed per parameter, the dtype the GEMM runs in, and the
fraction of 16-bit GEMV bandwidth the dequantising kernel keeps.

Bytes per parameter include the scales and zeros stored beside the weights:
- fp8 (E4M3, per-channel or per-tensor scales: < 0.1% extra): 1.0. On Hopper, Ada and Blackwell it runs
  W8A8 on FP8 tensor cores; on Ampere and older engines dequantise it (vLLM runs FP8 through the Marlin
  W8A16 kernel there), so it keeps the weight-only efficiency below.
- int8 weight-only (W8A16, per-channel scales): 1.0.
- int4 / AWQ / GPTQ at group size 128 (16-bit scale + zero per group): 0.5 + 4/128 B; gpt-fast's int4 uses
  group size 32: 0.5 + 4/32 B (`int4-g32`).
- NVFP4: 4-bit E2M1 values with one FP8 scale per 16 (0.5 + 1/16 B), FP4 tensor cores on Blackwell;
  MXFP4: one E8M0 scale per 32 (0.5 + 1/32 B) (OCP MX spec; NVIDIA TensorRT Model Optimizer docs).

Kernel efficiency (`kernel_eff`): a weight-only kernel must unpack and scale every weight before the
multiply. How much bandwidth that costs depends on the kernel, not the format:
- fused dequantising GEMMs (Marlin in vLLM/SGLang for AWQ/GPTQ and FP8-on-Ampere, TensorRT-LLM's W4A16/W8A16,
  MLC's generated kernels) keep "close to ideal (4x) speedups up to batchsizes of 16-32 tokens"
  (IST-DASLab/marlin README): 1.0;
- plain PyTorch weight-only kernels (gpt-fast: torch.compile'd int8 mm, tinygemm int4) lose part of it: gpt-fast's
  own README (A100-80GB, bs=1 Llama-2-7B) achieves bf16 1397 GB/s, int8 1069 GB/s, int4 g32 863 GB/s;
- AutoAWQ's GEMM kernel, which vLLM ran AWQ checkpoints on before its Marlin path became the default
  (`awq-legacy`), dequantises tile by tile without Marlin's pipelining.
Those efficiencies are fitted on the calibration part of the published set (benchmarks/costmodel_vs_published.py).
Formats the GPU multiplies natively keep 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.advice.params import P
from tpdoctor.llm import sizing

# The weight-only kernel efficiencies (int8_torch_eff, int4_torch_eff, awq_legacy_eff) are fitted constants of
# data/costmodel.yaml; gpt-fast's own GB/s column gives 1069/1397 = 0.77 (int8) and 863/1397 = 0.62 (int4)
# including fixed costs.


@dataclass(frozen=True)
class WeightFormat:
    name: str
    bytes_per_param: float
    compute: str  # dtype of the GEMM inputs when the hardware has it: bf16 | fp8 | fp4
    weight_only: bool  # activations stay 16-bit; the kernel dequantises the weights


FORMATS: dict[str, WeightFormat] = {
    "fp32": WeightFormat("fp32", 4.0, "bf16", False),
    "bf16": WeightFormat("bf16", 2.0, "bf16", False),
    "fp16": WeightFormat("fp16", 2.0, "bf16", False),
    "fp8": WeightFormat("fp8", 1.0, "fp8", False),
    "int8": WeightFormat("int8", 1.0, "bf16", True),
    "int4": WeightFormat("int4", 0.5 + 4 / 128, "bf16", True),
    "awq": WeightFormat("awq", 0.5 + 4 / 128, "bf16", True),
    "gptq": WeightFormat("gptq", 0.5 + 4 / 128, "bf16", True),
    "int4-g32": WeightFormat("int4-g32", 0.5 + 4 / 32, "bf16", True),
    "nvfp4": WeightFormat("nvfp4", 0.5 + 1 / 16, "fp4", False),
    "mxfp4": WeightFormat("mxfp4", 0.5 + 1 / 32, "fp4", False),
}
_ALIASES = {"fp4": "nvfp4", "nv_fp4": "nvfp4", "modelopt_fp4": "nvfp4", "mx_fp4": "mxfp4", "w4a4": "nvfp4",
            "int4-awq": "awq", "int4-gptq": "gptq", "q4f16_1": "int4", "int4-q4f16_1": "int4"}


def normalize(text: str | None, default: str = "bf16") -> str:
    """A weight format name: the memory-sizing vocabulary (`llm/sizing.normalize_dtype`) plus the 4-bit
    floating formats. Raises ValueError for text neither knows."""
    t = (text or "").strip().lower()
    if t in FORMATS:
        return t
    if t in _ALIASES:
        return _ALIASES[t]
    return sizing.normalize_dtype(text, default=default)


def sizing_dtype(name: str) -> str:
    """The closest format the memory estimate knows (it sizes NVFP4/MXFP4 as 4-bit with group scales)."""
    return {"nvfp4": "int4", "mxfp4": "int4", "int4-g32": "int4"}.get(name, name)


def fmt(name: str) -> WeightFormat:
    return FORMATS[normalize(name)]


def kernel_eff(f: WeightFormat, native: bool, kernel: str = "fused") -> float:
    """Fraction of the 16-bit GEMV bandwidth the kernel keeps: 1 when the GPU multiplies this format natively
    or a fused dequantising kernel runs it (`fused`), else the plain-PyTorch cost for its width (`torch`) or
    AutoAWQ's kernel for 4-bit formats (`awq-legacy`)."""
    if (not f.weight_only and native) or f.bytes_per_param >= 2.0 or kernel == "fused":
        return 1.0
    if kernel == "awq-legacy":
        return P.awq_legacy_eff if f.bytes_per_param < 1.0 else 1.0
    return P.int8_torch_eff if f.bytes_per_param >= 1.0 else P.int4_torch_eff
