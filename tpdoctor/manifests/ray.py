"""Ray on Kubernetes (KubeRay RayService, RayCluster, RayJob; AIBrix RayClusterFleet) -> Deployments.

Three places an engine sits: a container of the head or a worker group (`vllm serve … --distributed-executor-
backend ray`: its TP group may take GPUs of the worker pods, so it spans pods when TP × PP exceeds its pod's
GPUs); a RayJob's `entrypoint` command; and Ray Serve's `serveConfigV2` (a YAML document inside a string):
Ray Serve LLM's `llm_configs[].engine_kwargs` (vLLM's engine arguments by name, e.g. `tensor_parallel_size`),
or a serve script of the project's own whose settings come from `runtime_env.env_vars` by the usual names
(`MODEL_ID`, `TENSOR_PARALLELISM` …: read by convention, and said so). GPUs are the GPU worker group's
`nvidia.com/gpu`; a `google.com/tpu` group makes it a TPU job.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tpdoctor.manifests import build, containers, k8s, script
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.k8s import Pod, Result, get
from tpdoctor.manifests.words import SearchLocator, Token
from tpdoctor.manifests.yamlsrc import Document, Path_, Span, load_documents
from tpdoctor.model.deployment import Origin
from tpdoctor.model.errors import ManifestError

_CLUSTER = {"RayService": ("spec", "rayClusterConfig"), "RayCluster": ("spec",), "RayJob": ("spec", "rayClusterSpec"),
            "RayClusterFleet": ("spec", "template", "spec")}
# runtime_env variable -> vLLM flag, by the names serve scripts use
_ENV_FLAGS = {"MODEL_ID": "--model", "MODEL_NAME": "--model", "MODEL": "--model", "TENSOR_PARALLELISM": "-tp",
              "TENSOR_PARALLEL_SIZE": "-tp", "TP_SIZE": "-tp", "PIPELINE_PARALLEL_SIZE": "-pp",
              "GPU_MEMORY_UTILIZATION": "--gpu-memory-utilization", "MAX_MODEL_LEN": "--max-model-len",
              "MAX_NUM_SEQ": "--max-num-seqs", "MAX_NUM_SEQS": "--max-num-seqs", "DTYPE": "--dtype",
              "QUANTIZATION": "--quantization", "KV_CACHE_DTYPE": "--kv-cache-dtype"}


def _groups(doc: Document, kind: str) -> list[tuple[Path_, str]]:
    base: Path_ = _CLUSTER[kind]
    out: list[tuple[Path_, str]] = [((*base, "headGroupSpec", "template", "spec"), "head")]
    workers = get(doc.data, (*base, "workerGroupSpecs"))
    for i, w in enumerate(workers if isinstance(workers, list) else []):
        name = w.get("groupName") if isinstance(w, dict) else None
        out.append(((*base, "workerGroupSpecs", i, "template", "spec"), str(name or i)))
    return out


def _gpu_group(doc: Document, source: str, kind: str) -> tuple[int | None, Any, str | None]:
    """(GPUs of the first GPU group's pod, where, why it is not a GPU job)."""
    for path, _ in _groups(doc, kind):
        ctrs = get(doc.data, (*path, "containers"))
        for ci, ctr in enumerate(ctrs if isinstance(ctrs, list) else []):
            if not isinstance(ctr, dict):
                continue
            count, origin, not_gpu = containers.gpu_resources(doc, source, (*path, "containers", ci),
                                                              ctr.get("resources"))
            if not_gpu or count:
                return count, origin, not_gpu
    return None, None, None


def read(doc: Document, source: str) -> Result:
    kind = str(doc.data.get("kind"))
    name = str(get(doc.data, ("metadata", "name")) or kind)
    count, origin, not_gpu = _gpu_group(doc, source, kind)
    has_workers = len(_groups(doc, kind)) > 1
    out: Result = []
    for path, _group in _groups(doc, kind):
        pod = Pod(path, kind, name, k8s.count(doc, source, ("spec", "replicas")) if kind == "RayClusterFleet" else 1,
                  spans_nodes=has_workers)
        out += k8s.read_pod(doc, source, pod)
    if kind == "RayJob" and isinstance(get(doc.data, ("spec", "entrypoint")), str):
        out += _entrypoint(doc, source, name, count, not_gpu)
    serve = get(doc.data, ("spec", "serveConfigV2"))
    if isinstance(serve, str) and serve.strip():
        out += _serve(doc, source, name, serve, count, origin, not_gpu)
    return out


def _entrypoint(doc: Document, source: str, name: str, count: int | None, not_gpu: str | None) -> Result:
    path = ("spec", "entrypoint")
    span = doc.spans.get(path)
    loc = SearchLocator(doc.lines, source, span.line if span else None, span.col if span else 0)
    return [build.make(f, Context(source=source, kind="RayJob", name=name, gpu_count=count, accelerator=not_gpu,
                                  pod_spans_nodes=True))
            for f in script.walk(str(doc.data["spec"]["entrypoint"]), {}, loc)]


def _serve_doc(doc: Document, source: str, text: str) -> Document | None:
    """serveConfigV2 parsed again, its positions moved to where the string sits in the file."""
    span = doc.spans.get(("spec", "serveConfigV2"))
    try:
        inner = load_documents(text, source)
    except ManifestError as exc:
        raise ManifestError(f"{source}:{span.line if span else '?'}: serveConfigV2: {exc.message.split(': ', 1)[-1]}") \
            from None
    if not inner or not isinstance(inner[0].data, dict):
        return None
    shift = span.line if span else 0
    moved = {p: Span(s.line + shift, s.col, s.end_col) for p, s in inner[0].spans.items()}
    return replace(inner[0], spans=moved, lines=doc.lines)


def _serve(doc: Document, source: str, name: str, text: str, count: int | None, origin: Any,
           not_gpu: str | None) -> Result:
    sdoc = _serve_doc(doc, source, text)
    if sdoc is None:
        return []
    apps = sdoc.data.get("applications")
    out: Result = []
    for ai, app in enumerate(apps if isinstance(apps, list) else []):
        if not isinstance(app, dict):
            continue
        base: Path_ = ("applications", ai)
        env_vars = get(app, ("runtime_env", "env_vars"))
        env = containers.env_from_mapping(sdoc, source, (*base, "runtime_env", "env_vars"), env_vars, False)
        reason = not_gpu or ("a TPU job (ACCELERATOR_TYPE " + env.values["ACCELERATOR_TYPE"] + ")"
                             if "TPU" in env.values.get("ACCELERATOR_TYPE", "").upper() else None)
        app_name = f"{name}/{app.get('name') or ai}"
        configs = get(app, ("args", "llm_configs"))
        runs: list[tuple[list[Token], int, str]] = []
        if isinstance(configs, list):
            for ci, cfg in enumerate(configs):
                if isinstance(cfg, dict):
                    runs.append(_llm_config(sdoc, source, (*base, "args", "llm_configs", ci), cfg))
        else:
            engine = "sglang" if "sglang" in str(app.get("import_path", "")).lower() else (
                "vllm" if "vllm" in str(app.get("import_path", "")).lower() or any(
                    k in (env_vars if isinstance(env_vars, dict) else {}) for k in ("TENSOR_PARALLELISM",
                                                                                     "TENSOR_PARALLEL_SIZE")) else None)
            if engine is None:
                continue
            tokens = _env_tokens(sdoc, source, (*base, "runtime_env", "env_vars"), env_vars)
            args = app.get("args")
            for key, value in (args.items() if isinstance(args, dict) else []):  # the app builder's arguments
                if value is not None and not isinstance(value, (dict, list)):
                    tokens += containers.setting_tokens(sdoc, source, (*base, "args", key),
                                                        "--" + str(key).replace("_", "-"), value)
            runs.append((tokens, _replicas(sdoc, source, base, app.get("deployments")), engine))
        for tokens, replicas, engine in runs:
            for f in _fallback(tokens, env, engine):
                ctx = Context(source=source, kind=str(doc.data.get("kind")), name=app_name, replicas=replicas,
                              gpu_count=count, gpu_count_origin=origin, accelerator=reason, pod_spans_nodes=True)
                if not isinstance(configs, list):
                    ctx.notes.append("engine settings read from runtime_env env_vars by their usual names (the serve "
                                     "script itself is not in this file)")
                out.append(build.make(f, ctx))
    return out


def _fallback(tokens: list[Token], env: containers.Env, engine: str) -> list[script.Found]:
    from tpdoctor.manifests.launch import Launch

    entry = tokens[0] if tokens else Token(engine, Origin(""))
    return [script.Found(Launch(engine, "serve", tokens, entry, False), dict(env.values), dict(env.origins),
                         dict(env.unresolved))]


def _llm_config(sdoc: Document, source: str, base: Path_, cfg: dict[str, Any]) -> tuple[list[Token], int, str]:
    """Ray Serve LLM: `model_loading_config` and `engine_kwargs` (vLLM's engine arguments by name)."""
    mpath = (*base, "model_loading_config", "model_source")
    model = get(cfg, ("model_loading_config", "model_source"))
    if model is None:
        mpath = (*base, "model_loading_config", "model_id")
        model = get(cfg, ("model_loading_config", "model_id"))
    tokens = [Token("--model", containers.origin_at(sdoc, source, mpath, None)),
              Token(str(model or ""), containers.origin_at(sdoc, source, mpath, str(model or "")))]
    kwargs = cfg.get("engine_kwargs")
    for key, value in (kwargs.items() if isinstance(kwargs, dict) else []):
        if value is None or isinstance(value, (dict, list)) or key == "device":
            continue
        path = (*base, "engine_kwargs", key)
        tokens += containers.setting_tokens(sdoc, source, path, "--" + str(key).replace("_", "-"), value)
    dep = cfg.get("deployment_config")
    return tokens, _replica_count(dep), "vllm"


def _env_tokens(sdoc: Document, source: str, base: Path_, env_vars: Any) -> list[Token]:
    tokens: list[Token] = []
    for key, value in (env_vars.items() if isinstance(env_vars, dict) else []):
        flag = _ENV_FLAGS.get(str(key))
        if flag is None or value is None:
            continue
        path = (*base, key)
        tokens += [Token(flag, containers.origin_at(sdoc, source, path, None)),
                   Token(str(value), containers.origin_at(sdoc, source, path, str(value)))]
    return tokens


def _replica_count(dep: Any) -> int:
    if not isinstance(dep, dict):
        return 1
    if isinstance(dep.get("num_replicas"), int):
        return max(1, dep["num_replicas"])
    low = get(dep, ("autoscaling_config", "min_replicas"))
    return max(1, low) if isinstance(low, int) else 1


def _replicas(sdoc: Document, source: str, base: Path_, deployments: Any) -> int:
    if isinstance(deployments, list) and deployments and isinstance(deployments[0], dict):
        return _replica_count(deployments[0])
    return 1


__all__ = ["read", "Skip"]
