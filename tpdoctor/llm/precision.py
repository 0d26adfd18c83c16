"""The weights' precision as the engine will load them: the checkpoint first, then the engine's flags under that
engine's own rules, then the name; what none of them says is unknown, never 16-bit by default.

1. **The checkpoint.** A `quantization_config` in its config.json (read here, or the catalogue's copy of the
   published one) fixes the weights: fp8, GPTQ/AWQ bits, compressed-tensors, modelopt, bitsandbytes, mxfp4.
   An unquantised checkpoint is its `torch_dtype` (16-bit as every engine loads it unless told otherwise).
2. **The engine's flags**, each engine's way:
   - vLLM and SGLang: `--dtype` is the activation dtype (and the width of unquantised weights); it does not
     change a quantised checkpoint's weights. `--quantization` must match the checkpoint's `quant_method` or
     the engine refuses to start (vLLM `ModelConfig._verify_quantization`, vllm/config/model.py: "Quantization
     method specified in the model config (X) does not match the quantization method specified in the
     `quantization` argument (Y)"; SGLang's model_config raises the same). On an unquantised checkpoint only
     the methods that quantise at load time work (`fp8`, `bitsandbytes`, `experts_int8`, `ptpc_fp8`,
     `torchao`); the others look for the checkpoint's quantisation file and fail ("Cannot find the config
     file for awq", vllm/model_executor/model_loader/weight_utils.py `get_quant_config`).
   - TGI: `--quantize` wins over the checkpoint's config (launcher/src/main.rs:2168 @db931fcf); `awq`, `gptq`,
     `marlin`, `exl2` read pre-quantised `qweight` tensors and fail at load on a 16-bit checkpoint ("weight
     … does not exist", server/text_generation_server/utils/weights.py:192, via `get_loader` in
     utils/quantization.py); `bitsandbytes`, `bitsandbytes-nf4`/`-fp4`, `eetq` and `fp8` quantise 16-bit
     weights at load time, and fail on a GPTQ/AWQ checkpoint, which has no 16-bit weights to quantise.
   - TensorRT-LLM: the precision was fixed when the checkpoint or engine was built; flags do not say.
3. **The name**: `-FP8`, `-GPTQ-Int4`, `-AWQ`, `-NVFP4`, `-bnb-4bit` … (`names.py`), when nothing above did.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.llm.resolve import Resolution
from tpdoctor.model.deployment import Deployment

# vLLM's names a checkpoint's quant_method accepts as --quantization (override_quantization_method)
_COMPATIBLE = {
    "gptq": {"gptq", "gptq_marlin", "marlin", "auto_gptq", "gptq_bitblas", "moe_wna16", "gptq_marlin_24"},
    "awq": {"awq", "awq_marlin", "auto_awq", "moe_wna16"},
    "fp8": {"fp8"}, "fbgemm_fp8": {"fbgemm_fp8", "fp8"}, "compressed-tensors": {"compressed-tensors"},
    "modelopt": {"modelopt", "modelopt_fp4"}, "modelopt_fp4": {"modelopt", "modelopt_fp4"},
    "mxfp4": {"mxfp4", "gpt_oss_mxfp4"}, "bitsandbytes": {"bitsandbytes"},
}
# what SGLang accepts beyond that (python/sglang/srt/configs/model_config.py _verify_quantization,
# compatible_quantization_methods at 001adf56): ModelOpt variants of a modelopt checkpoint, nvfp4_online over
# fp8, w8a8 over compressed-tensors; and quark_mxfp4 requantises any checkpoint (REQUANTIZATION_METHODS)
_COMPATIBLE_SGLANG = {"modelopt": {"modelopt_fp8", "modelopt_fp4", "modelopt_mixed", "petit_nvfp4"},
                      "fp8": {"nvfp4_online"}, "compressed-tensors": {"w8a8_int8", "w8a8_fp8"}}
_REQUANT_SGLANG = {"quark_mxfp4"}
# methods vLLM/SGLang apply to a 16-bit checkpoint at load time, and the weights they produce
_ONLINE = {"fp8": "fp8", "bitsandbytes": "int4", "experts_int8": "int8", "ptpc_fp8": "fp8", "torchao": None,
           "w8a8_fp8": "fp8", "w8a8_int8": "int8"}
_TGI_ONLINE = {"bitsandbytes": "int8", "bitsandbytes-nf4": "int4", "bitsandbytes-fp4": "int4", "eetq": "int8",
               "fp8": "fp8"}
_TGI_PREQUANT = {"awq", "gptq", "marlin", "exl2", "compressed-tensors"}
_FLOATS = {"float16": "fp16", "half": "fp16", "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16",
           "float32": "fp32", "float": "fp32", "fp32": "fp32"}
_FLAG = {"vllm": "--quantization", "sglang": "--quantization", "tgi": "--quantize", "trtllm": "quantization"}
_ENGINE = {"vllm": "vLLM", "sglang": "SGLang", "tgi": "TGI", "trtllm": "TensorRT-LLM"}
_RULE_VLLM = "vllm/config/model.py ModelConfig._verify_quantization"
_RULE_SGLANG = "sglang python/sglang/srt/configs/model_config.py ModelConfig._verify_quantization"
_RULE_VLLM_FILE = "vllm/model_executor/model_loader/weight_utils.py get_quant_config"
_RULE_TGI = "text-generation-inference server/text_generation_server/utils/weights.py:192"


@dataclass(frozen=True)
class Precision:
    weights: str | None  # format the memory estimate sizes (bf16, fp16, fp32, fp8, int8, int4, awq, gptq, nvfp4 …)
    source: str  # where it was decided, in words
    activation: str | None = None  # the engine's --dtype, normalised (bf16, fp16, fp32), when given
    note: str | None = None  # a flag that does not do what it seems to, or why the precision is unknown
    load_error: str | None = None  # the engine refuses to load the checkpoint with these flags


def _norm(text: str | None) -> str | None:
    t = (text or "").strip().lower().replace("_", "-") if text else None
    return None if not t or t in ("none", "null", "auto", "") else t


def _checkpoint(res: Resolution | None) -> tuple[bool, str, str | None, str]:
    """(known, quant_method, weights format, where) of the checkpoint the deployment loads."""
    if res is None or res.spec is None:
        return False, "", None, ""
    spec = res.spec
    if res.from_config:
        return True, spec.quant_method, spec.dtype or None, res.source
    if res.name_precision is None and res.name_label is None:  # the published repo (no quantised re-upload)
        return True, spec.quant_method, spec.dtype or None, f"{spec.source}"
    return False, "", None, ""


def resolve(engine: str, quantization: str | None, dtype_flag: str | None, res: Resolution | None) -> Precision:
    """See the module docstring."""
    q = _norm(quantization)
    act = _FLOATS.get(_norm(dtype_flag) or "")
    flag = _FLAG.get(engine, "--quantization")
    name = _ENGINE.get(engine, engine)
    known, method, fmt, where = _checkpoint(res)
    method = method.lower().replace("_", "-") if method else ""
    if known and method:  # a quantised checkpoint
        return _quantised(engine, q, act, method, fmt, where, flag, name, res)
    if known:  # an unquantised checkpoint
        return _unquantised(engine, q, act, fmt, where, flag, name)
    return _by_name(engine, q, act, flag, res)


def _quantised(engine: str, q: str | None, act: str | None, method: str, fmt: str | None, where: str, flag: str,
               name: str, res: Resolution | None) -> Precision:
    quant = res.spec.quant if res and res.spec else method
    src = f"the checkpoint's quantization_config ({quant})"
    error = note = None
    dash = method.replace("_", "-")
    if q and engine in ("vllm", "sglang"):
        ok = {m.replace("_", "-") for m in _COMPATIBLE.get(method.replace("-", "_"), _COMPATIBLE.get(dash, {method}))}
        if engine == "sglang":
            ok |= {m.replace("_", "-") for m in _COMPATIBLE_SGLANG.get(dash, set()) | _REQUANT_SGLANG}
        if q not in ok and q.replace("-", "_") not in _COMPATIBLE.get(method.replace("-", "_"), set()):
            error = (f"{name} refuses to start: the checkpoint's config.json says quant_method {method} and "
                     f"{flag} says {q} ({_RULE_SGLANG if engine == 'sglang' else _RULE_VLLM})")
    elif q and engine == "tgi" and q in _TGI_ONLINE and method in ("gptq", "awq", "marlin", "compressed-tensors"):
        error = (f"TGI fails at load: --quantize {q} quantises 16-bit weights, and this {method} checkpoint has "
                 f"none ({_RULE_TGI})")
    if act and not error:
        note = f"--dtype {act} sets the activation dtype; the {quant} weights stay as they are"
    return Precision(fmt, src, act, note if fmt else f"{method} weights: tpdoctor cannot size this format", error)


def _unquantised(engine: str, q: str | None, act: str | None, fmt: str | None, where: str, flag: str,
                 name: str) -> Precision:
    native = fmt or "bf16"
    if q and engine in ("vllm", "sglang"):
        key = q.replace("-", "_")
        if key in _ONLINE:
            out = _ONLINE[key]
            return Precision(out, f"{flag} {q}: {name} quantises the {native} checkpoint at load time", act,
                             None if out else f"{flag} {q}: the resulting weight size is not known")
        return Precision(native, f"the checkpoint ({native}, not quantised)", act, None,
                         f"{name} fails at load: {flag} {q} needs a {q}-quantised checkpoint and this one is "
                         f"{native} with no quantization_config (\"Cannot find the config file for {q}\", "
                         f"{_RULE_VLLM_FILE})")
    if q and engine == "tgi":
        if q in _TGI_ONLINE:
            return Precision(_TGI_ONLINE[q], f"--quantize {q}: TGI quantises the {native} checkpoint at load time",
                             act)
        if q in _TGI_PREQUANT:
            return Precision(native, f"the checkpoint ({native}, not quantised)", act, None,
                             f"TGI fails at load: --quantize {q} reads pre-quantised {q} weights (qweight) and this "
                             f"checkpoint is {native} with no quantization_config ({_RULE_TGI})")
    width = act if act == "fp32" else native if native in ("bf16", "fp16", "fp32") else native
    src = f"the checkpoint ({native})" if not act else f"--dtype {act} on the {native} checkpoint"
    if native == "fp32" and not act:
        width, src = "fp16", "the checkpoint is fp32; the engine's --dtype auto loads it 16-bit"
    return Precision(width, src, act)


def _by_name(engine: str, q: str | None, act: str | None, flag: str, res: Resolution | None) -> Precision:
    """The checkpoint was not read: its precision comes from the flags that set it, else from its name."""
    named = res.name_precision if res else None
    label = res.name_label if res else None
    if q:
        table = _TGI_ONLINE if engine == "tgi" else {k.replace("_", "-"): v for k, v in _ONLINE.items()}
        fmt = table.get(q) or {"awq": "awq", "gptq": "gptq", "gptq-marlin": "gptq", "awq-marlin": "awq",
                               "marlin": "gptq", "modelopt-fp4": "nvfp4", "mxfp4": "mxfp4", "fp8": "fp8",
                               "compressed-tensors": named}.get(q)
        note = None
        if named and fmt and named != fmt and not ({named, fmt} <= {"gptq", "awq", "int4"}):
            note = (f"the name says {label} and {flag} says {q}: {_ENGINE.get(engine, engine)} fails at load if "
                    f"the checkpoint is what its name says")
        return Precision(fmt or named, f"{flag} {q}" if fmt else f"model name ({label})", act,
                         note or (None if fmt or named else f"{flag} {q}: the resulting weight size is not known"))
    if named:
        return Precision(named, f"model name ({label})", act)
    why = "the checkpoint's config.json was not read and the name and flags do not say" if res and res.spec \
        else "the model is not known"
    return Precision(None, "unknown", act, f"weights precision unknown: {why} (give --model-config PATH)")


_STATED_FLOATS = {"auto", "bfloat16", "bf16", "float16", "fp16", "half", "float32", "fp32", "float"}


def for_deployment(dep: Deployment, res: Resolution | None) -> Precision:
    """A deployment's weights precision. tpdoctor's own job.yaml states the weights (`dtype: fp8`, `dtype: awq`)
    rather than passing an engine flag, unless it says `quantization:` (an engine flag) or a float dtype."""
    stated = (dep.dtype or "").strip().lower()
    if dep.kind == "job" and stated and dep.quantization is None and stated not in _STATED_FLOATS:
        return Precision(stated, f"job.yaml dtype {dep.dtype}")
    return resolve(dep.engine, dep.quantization, dep.engine_dtype, res)
