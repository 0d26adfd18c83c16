"""One engine launch + where it runs -> one `Deployment` (or a `Skip` saying why it is not one).

Every reader (script, container, custom resource) ends here, so the engines' rules live in one place: the
model (vLLM's positional wins over --model), TGI's options from its environment (and SageMaker's `SM_NUM_GPUS`
/ `HF_MODEL_ID`), TGI's shard count from the GPUs it can see, SGLang's DP inside TP with DP attention, the
GPUs (CUDA_VISIBLE_DEVICES, docker --gpus, compose device_ids, a request), and what is not a GPU job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpdoctor.manifests import engineargs
from tpdoctor.manifests.launch import Launch, gpu_request
from tpdoctor.manifests.script import Found
from tpdoctor.model.deployment import Deployment, Origin, parse_gpu_list
from tpdoctor.model.errors import ManifestError

NOT_GPU_DEVICES = {"npu": "an Ascend NPU job (--device npu)", "hpu": "an Intel Gaudi HPU job (--device hpu)",
                   "tpu": "a TPU job (--device tpu)", "xpu": "an Intel XPU job (--device xpu)",
                   "cpu": "a CPU-only job (--device cpu)", "neuron": "an AWS Neuron job (--device neuron)"}
ACCELERATORS = {"tpu": "a TPU job", "hpu": "an Intel Gaudi HPU job", "npu": "an Ascend NPU job",
                "rocm": "an AMD ROCm job", "neuron": "an AWS Neuron job"}
_SAGEMAKER = {"SM_NUM_GPUS": "NUM_SHARD", "HF_MODEL_ID": "MODEL_ID", "HF_MODEL_QUANTIZE": "QUANTIZE"}
_FIELDS = ("dtype", "kv_cache_dtype", "max_model_len", "max_num_seqs", "gpu_memory_utilization",
           "mem_fraction_static", "cuda_memory_fraction", "kv_cache_free_fraction", "max_total_tokens",
           "max_batch_total_tokens", "max_batch_prefill_tokens", "max_num_batched_tokens", "kv_cache_memory_bytes",
           "cpu_offload_gb")


@dataclass(frozen=True)
class Skip:
    """Something that looked like a deployment and is not one we judge: why, and where."""

    why: str  # "a TPU job (google.com/tpu)", "a build step (convert_checkpoint.py)"
    where: str
    kind: str  # not-gpu | build | no-engine


@dataclass
class Context:
    source: str
    kind: str
    name: str = ""
    replicas: int = 1
    nodes: int = 1
    node: str | None = None
    gpu_count: int | None = None
    gpu_count_origin: Origin | None = None
    device_ids: str | None = None
    device_ids_origin: Origin | None = None
    latency_objective_ms: float | None = None
    throughput_objective_tps: float | None = None
    accelerator: str | None = None  # from the object: "a TPU job (google.com/tpu)"
    extra: dict[str, Any] = field(default_factory=dict)  # values the object sets for the engine (Ray, KServe)
    extra_origins: dict[str, Origin] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pod_spans_nodes: bool = False  # the engine's group may span pods (Ray worker groups): nodes from TP / GPUs


def make(found: Found, ctx: Context) -> Deployment | Skip:
    """The Deployment for one launch (see the module docstring)."""
    lc = found.launch
    where = lc.entry.origin.where()
    if lc.role == "build":
        return Skip(f"a build step ({lc.note or lc.entry.text}), not a serving deployment", where, "build")
    assert lc.engine is not None
    if ctx.accelerator:
        return Skip(ctx.accelerator, where, "not-gpu")
    if lc.accelerator in ACCELERATORS:
        return Skip(f"{ACCELERATORS[lc.accelerator]} (image {lc.image})", where, "not-gpu")
    engine = lc.engine
    parsed = engineargs.parse_args(engine if lc.role != "wrapper" else "wrapper", lc.args,
                                   positional_model=lc.positional_model)
    parsed.engine = engine
    device = str(parsed.values.get("device", "")).lower()
    if device in NOT_GPU_DEVICES:
        return Skip(NOT_GPU_DEVICES[device], parsed.origins["device"].where(), "not-gpu")
    env, env_origins, env_unres = dict(found.env), dict(found.env_origins), dict(found.env_unresolved)
    if engine == "tgi":
        _sagemaker(env, env_origins, parsed)
        engineargs.apply_env(parsed, env, env_origins, env_unres)
    for k, v in ctx.extra.items():
        if k not in parsed.values and k not in parsed.unknown:
            parsed.values[k] = v
            if k in ctx.extra_origins:
                parsed.origins[k] = ctx.extra_origins[k]
    if lc.note:
        parsed.notes.append(lc.note)
    return _deployment(lc, parsed, ctx, env, env_origins, found)


def _sagemaker(env: dict[str, str], origins: dict[str, Origin], parsed: engineargs.ParsedArgs) -> None:
    """The HF/SageMaker TGI image's entrypoint maps its variables onto TGI's (sagemaker-entrypoint.sh:1-25)."""
    for sm, tgi in _SAGEMAKER.items():
        if sm in env and tgi not in env:
            env[tgi] = env[sm]
            if f"env.{sm}" in origins:
                origins[f"env.{tgi}"] = origins[f"env.{sm}"]
            parsed.notes.append(f"{sm}={env[sm]} is TGI's {tgi} (the SageMaker entrypoint maps it)")


def _model(parsed: engineargs.ParsedArgs, lc: Launch) -> str:
    """vLLM/trtllm-serve: a positional model wins over --model (vllm/entrypoints/cli/serve.py:56)."""
    if lc.positional_model and parsed.positionals:
        tok = parsed.positionals[0]
        if tok.unresolved:
            parsed.unknown["model"] = f"the model comes from {', '.join(tok.unresolved)}, which this file does not set"
            parsed.unresolved += [n for n in tok.unresolved if n not in parsed.unresolved]
            parsed.origins["model"] = tok.origin
            return ""
        parsed.origins["model"] = tok.origin
        parsed.unknown.pop("model", None)
        return tok.text
    model = parsed.values.get("model")
    if model is None and "model" not in parsed.unknown:
        parsed.notes.append(f"the {lc.engine} command names no model")
    return str(model or "")


def _gpus(env: dict[str, str], env_origins: dict[str, Origin], lc: Launch, ctx: Context,
          notes: list[str]) -> tuple[tuple[int, ...] | None, tuple[str, ...], Origin | None, int | None]:
    """(pinned GPUs, UUIDs, where, count requested) from the environment, docker/srun and the object."""
    count: int | None = ctx.gpu_count
    for var in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
        if var in env:
            g, u, why = parse_gpu_list(env[var])
            if why and why != "all GPUs":
                notes.append(f"{var}={env[var]}: {why}")
            if g is not None or u:
                return g, u, env_origins.get(f"env.{var}"), count
            if why == "no GPUs":
                return (), (), env_origins.get(f"env.{var}"), 0
    if lc.gpus is not None:
        g, c, why = gpu_request(lc.gpus)
        if why:
            notes.append(why)
        if g:
            return g, (), lc.gpus_origin, count
        if c is not None and count is None:
            count = c
    if ctx.device_ids is not None:
        g, u, why = parse_gpu_list(ctx.device_ids)
        if why and why != "all GPUs":
            raise ManifestError(f"{(ctx.device_ids_origin or Origin(ctx.source)).where()}: device_ids: {why}")
        if g is not None or u:
            return g, u, ctx.device_ids_origin, count
    return None, (), None, count


def _size(parsed: engineargs.ParsedArgs, key: str, default: int = 1) -> int:
    v = parsed.values.get(key, default)
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else default


def _deployment(lc: Launch, parsed: engineargs.ParsedArgs, ctx: Context, env: dict[str, str],
                env_origins: dict[str, Origin], found: Found) -> Deployment:
    notes = [*ctx.notes, *parsed.notes]
    model = _model(parsed, lc)
    gpus, uuids, gpu_origin, count = _gpus(env, env_origins, lc, ctx, notes)
    if count is None and found.sbatch_gpus:
        count = gpu_request(found.sbatch_gpus)[1]
    origins = {**{k: v for k, v in env_origins.items()}, **parsed.origins}
    if gpu_origin is not None:
        origins["gpus"] = gpu_origin
    if lc.entry.origin.line is not None:
        origins["entry"] = lc.entry.origin
    if ctx.gpu_count_origin is not None:
        origins["gpu_count"] = ctx.gpu_count_origin
    origins.update({k: v for k, v in ctx.extra_origins.items() if k not in origins})
    tp, pp, dp = _size(parsed, "tp"), _size(parsed, "pp"), _size(parsed, "dp")
    unknown = dict(parsed.unknown)
    shards_visible = False
    if lc.engine == "tgi" and "tp" not in parsed.values and "tp" not in unknown:
        tp, shards_visible = _tgi_shards(parsed, gpus, uuids, count, unknown)
    ep: bool | int = parsed.values.get("ep", False)
    if parsed.values.get("ep_off"):
        ep = False
    copies = dp if not (parsed.values.get("dp_attention") or parsed.values.get("attn_dp")) else 1
    nodes = _size(parsed, "nodes", ctx.nodes)
    if ctx.pod_spans_nodes and count and tp * pp > count:
        nodes = -(-tp * pp // count)
        notes.append(f"TP×PP = {tp * pp} over pods of {count} GPU(s): the group spans {nodes} pods")
    dtype = parsed.values.get("quantization") or parsed.values.get("dtype")
    if "quantization" in origins:
        origins["dtype"] = origins["quantization"]
    names = parsed.values.get("name")
    served = str(names).split()[0] if names else None
    values = {k: parsed.values[k] for k in _FIELDS if k in parsed.values}
    values["dtype"] = str(dtype) if dtype is not None else None
    for key, flag in (("quantization", "quantization"), ("engine_dtype", "dtype")):
        values[key] = str(parsed.values[flag]) if parsed.values.get(flag) is not None else None
    if lc.engine == "tgi" and "max_total_tokens" not in values and "max_input_tokens" in parsed.values:
        notes.append(f"max input tokens {parsed.values['max_input_tokens']} (max total tokens: TGI's default)")
    return Deployment(
        name=ctx.name or served or model or f"{lc.engine}@{lc.entry.origin.line}", engine=str(lc.engine),
        model=model, kind=ctx.kind, source=ctx.source, tp=tp, pp=pp, replicas=ctx.replicas * copies, nodes=nodes,
        node=ctx.node, gpus=gpus, gpu_uuids=uuids, gpu_count=count, latency_objective_ms=ctx.latency_objective_ms,
        throughput_objective_tps=ctx.throughput_objective_tps,
        env=env, origins=origins, notes=tuple(dict.fromkeys(notes)), dp=dp, ep=ep,
        enforce_eager=bool(parsed.values.get("enforce_eager", False)), shards_from_visible_gpus=shards_visible,
        fail_fast=bool(parsed.values.get("fail_fast", False)),
        unknown=unknown, unresolved=tuple(dict.fromkeys(parsed.unresolved)), **values)


def _tgi_shards(parsed: engineargs.ParsedArgs, gpus: tuple[int, ...] | None, uuids: tuple[str, ...],
                count: int | None, unknown: dict[str, str]) -> tuple[int, bool]:
    """TGI without --num-shard / NUM_SHARD: `--sharded false` is 1, else one shard per visible GPU
    (find_num_shards, launcher/src/main.rs:1374-1411)."""
    if parsed.values.get("sharded") is False:
        return 1, False
    visible = len(gpus) if gpus else (len(uuids) if uuids else count)
    if visible:
        parsed.notes.append(f"TGI shards over the {visible} GPU(s) it can see (no --num-shard or NUM_SHARD)")
        return visible, False
    unknown["tp"] = ("TGI shards over every GPU it can see (no --num-shard or NUM_SHARD) and the file does not "
                     "say how many that is")
    return 1, True
