"""One engine launch + where it runs -> one `Deployment` (or a `Skip` saying why it is not one).

Every reader (script, container, custom resource) ends here, so the engines' rules live in one place: the
model (vLLM's positional wins over --model), TGI's options from its environment (and SageMaker's `SM_NUM_GPUS`
/ `HF_MODEL_ID`), TGI's shard count from the GPUs it can see, SGLang's DP inside TP with DP attention, the
GPUs (CUDA_VISIBLE_DEVICES, docker --gpus, compose device_ids, a request), and what is not a GPU job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpdoctor.manifests import engineargs, placement, vendor
from tpdoctor.manifests.launch import Launch, gpu_request
from tpdoctor.manifests.placement import Visible
from tpdoctor.manifests.script import Found
from tpdoctor.model.deployment import Deployment, Origin

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
    latency_objective_ms: float | None = None
    throughput_objective_tps: float | None = None
    accelerator: str | None = None  # from the object: "a TPU job (google.com/tpu)"
    gpu_asked: tuple[str, ...] = ()  # GPU models the object asks for (any of them), as written
    gpu_asked_origin: Origin | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # values the object sets for the engine (Ray, KServe)
    extra_origins: dict[str, Origin] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pod_spans_nodes: bool = False  # the engine's group may span pods (Ray worker groups): nodes from TP / GPUs
    runtime: str = ""  # kubernetes | compose | shell | slurm | ray | skypilot | dstack | dockerfile (from kind)
    visible: Visible | None = None  # what the runtime hands the container (compose device_ids/count/all …)
    devices: tuple[str, ...] = ()  # device nodes given to the container (compose `devices:`)
    profiles: tuple[str, ...] = ()  # compose profiles
    nvidia_named: bool = False  # the object names an NVIDIA GPU (nvidia.com/gpu, an nvidia reservation)


_RUNTIMES = {"compose": "compose", "cmdline": "shell", "SkyPilot": "skypilot", "dstack": "dstack",
             "Dockerfile": "dockerfile", "job": "job"}


def runtime_of(ctx: Context, lc: Launch, found: Found) -> str:
    if ctx.runtime:
        return ctx.runtime
    base = _RUNTIMES.get(ctx.kind, "kubernetes")
    if base == "shell":
        if lc.container:
            return "docker"
        if found.ray_gpus or _ray_backend(lc):
            return "ray"
        if found.sbatch_gpus or lc.slurm:
            return "slurm"
    return base


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
    other = _vendor(found, ctx)
    if other:
        return Skip(other, where, "not-gpu")
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
    _config_file(parsed)
    if lc.prebuilt:
        for key in ("tp", "pp"):
            parsed.unknown[key] = (f"fixed inside the prebuilt TensorRT-LLM engine {lc.prebuilt} (its config.json, "
                                   "pretrained_config.mapping) when it was built: give the engine's config.json "
                                   "(the engine directory next to the manifest)")
            parsed.values.pop(key, None)
    return _deployment(lc, parsed, ctx, env, env_origins, found)


def _config_file(parsed: engineargs.ParsedArgs) -> None:
    """`vllm serve --config FILE`: what the command line does not set comes from a file not in this manifest."""
    config = parsed.values.get("config")
    if parsed.engine != "vllm" or config is None:
        return
    for key in ("tp", "pp", "model"):
        if key not in parsed.values and key not in parsed.unknown and not (key == "model" and parsed.positionals):
            parsed.unknown[key] = f"set in {config} (vllm serve --config), which is not in this manifest"


def _vendor(found: Found, ctx: Context) -> str | None:
    """Another vendor's job, by its devices, image or (when nothing names an NVIDIA GPU) its variables."""
    lc = found.launch
    named = ctx.nvidia_named or lc.gpus is not None or ctx.gpu_count is not None or ctx.visible is not None and \
        ctx.visible.kind != "unknown"
    names = [*found.env, *found.env_unresolved]
    return (vendor.from_devices([*lc.devices, *ctx.devices]) or vendor.from_image(lc.image or "")
            or vendor.from_env({**{n: "" for n in names}, **found.env}, named))


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


def _ray_backend(lc: Launch) -> bool:
    texts = [t.text for t in lc.args]
    return any(t == "--distributed-executor-backend=ray" or t == "--distributed-executor-backend" and i + 1 < len(
        texts) and texts[i + 1] == "ray" for i, t in enumerate(texts))


def _visible(runtime: str, lc: Launch, ctx: Context, found: Found) -> Visible:
    """What the runtime makes visible to the engine (placement.py's table)."""
    if ctx.visible is not None:
        return ctx.visible
    if runtime == "docker":
        v = placement.docker_visible(lc.gpus, lc.gpus_origin, lc.gpus_unresolved)
        nvd = lc.env.get("NVIDIA_VISIBLE_DEVICES")
        if v.kind == "unknown" and lc.runtime_nvidia and nvd is not None:
            return placement.compose_visible(None, None, False, nvd, lc.env_origins.get("env.NVIDIA_VISIBLE_DEVICES"),
                                             lc.entry.origin.where())
        return v
    if runtime in placement.SCHEDULED:
        count, origin = ctx.gpu_count, ctx.gpu_count_origin
        for spec in (lc.gpus, found.sbatch_gpus):
            if count is None and spec is not None:
                count, origin = gpu_request(spec)[1], lc.gpus_origin
        if runtime == "ray" and found.ray_gpus and count is None:
            per = set(found.ray_gpus)
            count = per.pop() if len(per) == 1 and 0 not in per else None
        if count is None and runtime == "kubernetes":  # no GPU request: the NVIDIA runtime (when it is the
            nvd = found.env.get("NVIDIA_VISIBLE_DEVICES")  # node's default) hands it the host GPUs it names
            if nvd is not None and nvd.strip().lower() not in ("all", "void", "none", ""):
                return placement.compose_visible(None, None, False, nvd, found.env_origins.get(
                    "env.NVIDIA_VISIBLE_DEVICES"), lc.entry.origin.where())
            return Visible("unknown", container=True)
        return Visible("scheduler", count=count, origin=origin, container=runtime != "shell")
    if runtime == "dockerfile":
        return Visible("unknown", container=True)
    if lc.gpus is not None:  # srun --gres outside a batch file reads like a scheduler request
        return Visible("scheduler", count=gpu_request(lc.gpus)[1], origin=lc.gpus_origin)
    return Visible("all")


def _gpus(env: dict[str, str], env_origins: dict[str, Origin], lc: Launch, ctx: Context, found: Found,
          notes: list[str]) -> tuple[placement.Placed, str]:
    """The GPUs the engine sees and how they are chosen (placement.py), and the runtime that starts it."""
    runtime = runtime_of(ctx, lc, found)
    visible = _visible(runtime, lc, ctx, found)
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if runtime == "ray" and cvd is not None:  # Ray sets each worker's CUDA_VISIBLE_DEVICES: the driver's is not
        notes.append(f"CUDA_VISIBLE_DEVICES={cvd} is the Ray driver's: Ray hands each worker its own GPUs")
        cvd = None
    if cvd is None and runtime == "job":
        return placement.Placed(None, (), None, ctx.gpu_count, visible.kind, None), runtime
    return placement.place(visible, cvd, env_origins.get("env.CUDA_VISIBLE_DEVICES"), notes), runtime


def _size(parsed: engineargs.ParsedArgs, key: str, default: int = 1) -> int:
    v = parsed.values.get(key, default)
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else default


def _deployment(lc: Launch, parsed: engineargs.ParsedArgs, ctx: Context, env: dict[str, str],
                env_origins: dict[str, Origin], found: Found) -> Deployment:
    notes = [*ctx.notes, *parsed.notes]
    model = _model(parsed, lc)
    placed, runtime = _gpus(env, env_origins, lc, ctx, found, notes)
    gpus, uuids, gpu_origin, count = placed.gpus, placed.uuids, placed.origin, placed.count
    origins = {**{k: v for k, v in env_origins.items()}, **parsed.origins}
    if gpu_origin is not None:
        origins["gpus"] = gpu_origin
    if lc.entry.origin.line is not None:
        origins["entry"] = lc.entry.origin
    if ctx.gpu_count_origin is not None:
        origins["gpu_count"] = ctx.gpu_count_origin
    if ctx.gpu_asked_origin is not None:
        origins["gpu_asked"] = ctx.gpu_asked_origin
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
    if runtime == "ray" and len(found.ray_gpus) > 1 and 0 not in found.ray_gpus and "nodes" not in parsed.values:
        nodes = _ray_nodes(found.ray_gpus, tp * pp, notes)
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
        node=ctx.node, gpus=gpus, gpu_uuids=uuids, gpu_count=count, gpu_asked=ctx.gpu_asked,
        latency_objective_ms=ctx.latency_objective_ms,
        throughput_objective_tps=ctx.throughput_objective_tps,
        env=env, origins=origins, notes=tuple(dict.fromkeys(notes)), dp=dp, ep=ep,
        enforce_eager=bool(parsed.values.get("enforce_eager", False)), shards_from_visible_gpus=shards_visible,
        fail_fast=bool(parsed.values.get("fail_fast", False)),
        unknown=unknown, unresolved=_roots([*parsed.unresolved, *lc.gpus_unresolved],
                                           {**found.chains, **found.env_unresolved}), placement=placed.placement,
        gpu_scope=placed.scope, runtime=runtime, profiles=ctx.profiles, step=found.step,
        engine_dir=lc.prebuilt, **values)


def _roots(names: list[str], chains: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The variables the file never sets: `model=$1 … $model` needs `$1`, not `model`."""
    out: list[str] = []
    todo, seen = list(names), set()
    while todo:
        n = todo.pop(0)
        if n in seen:
            continue
        seen.add(n)
        nxt = chains.get(n)
        if nxt and nxt != (n,):
            todo[:0] = list(nxt)
        else:
            out.append(n)
    return tuple(dict.fromkeys(out))


def _ray_nodes(per_node: tuple[int, ...], world: int, notes: list[str]) -> int:
    """Nodes a Ray-backed group spans when this file starts the Ray cluster (head + workers, their GPUs)."""
    total = sum(per_node)
    notes.append(f"the Ray cluster started here has {total} GPU(s) on {len(per_node)} node(s) "
                 f"({' + '.join(str(n) for n in per_node)}) for TP × PP = {world}")
    used, nodes = 0, 0
    for n in sorted(per_node, reverse=True):
        if used >= world:
            break
        used, nodes = used + n, nodes + 1
    return max(nodes, 1)


def _tgi_shards(parsed: engineargs.ParsedArgs, gpus: tuple[int, ...] | None, uuids: tuple[str, ...],
                count: int | None, unknown: dict[str, str]) -> tuple[int, bool]:
    """TGI without --num-shard / NUM_SHARD: `--sharded false` is 1, else one shard per visible GPU
    (find_num_shards, launcher/src/main.rs:1374-1411)."""
    if parsed.values.get("sharded") is False:
        return 1, False
    visible = len(gpus) if gpus is not None else (len(uuids) if uuids else count)
    if visible:
        parsed.notes.append(f"TGI shards over the {visible} GPU(s) it can see (no --num-shard or NUM_SHARD)")
        return visible, False
    unknown["tp"] = ("TGI shards over every GPU it can see (no --num-shard or NUM_SHARD) and the file does not "
                     "say how many that is")
    return 1, True
