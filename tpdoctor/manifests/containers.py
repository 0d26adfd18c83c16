"""A container (Kubernetes or docker-compose) -> one Deployment: command line, env, GPU assignment.

Shared by `k8s.py` and `compose.py`: both describe containers as an image, a command/args list (or a
shell string), environment variables and a GPU request.
"""

from __future__ import annotations

from typing import Any

from tpdoctor.manifests import engineargs
from tpdoctor.manifests.engineargs import Token
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Deployment, Origin, parse_gpu_list

# Images whose entrypoint is the engine, so `args` are only flags.
_IMAGE_ENTRYPOINTS = (
    ("vllm/vllm-openai", ["vllm", "serve"]),
    ("vllm-openai", ["vllm", "serve"]),
    ("text-generation-inference", ["text-generation-launcher"]),
    ("tensorrt-llm", ["trtllm-serve"]),
)
_SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env"}


def origin_at(doc: Document, source: str, path: Path_, text: str | None = None) -> Origin:
    span = doc.spans.get(tuple(path))
    line = doc.line_of(path)
    return Origin(source, line, span.col if span else 0, text, end_col=span.end_col if span else None)


def command_tokens(doc: Document, source: str, base: Path_, items: list[Any]) -> list[Token]:
    """Tokens of a command/args list; an item with spaces (`sh -c "…"`) is split as a shell string."""
    out: list[Token] = []
    for i, item in enumerate(items):
        text = str(item)
        origin = origin_at(doc, source, (*base, i), text)
        if any(ch.isspace() for ch in text.strip()):
            out.extend(engineargs.tokens_from_string(text, origin))
        else:
            out.append(Token(text, origin))
    return out


def image_entrypoint(image: str, source: str, line: int | None) -> list[Token]:
    for marker, words in _IMAGE_ENTRYPOINTS:
        if marker in image:
            return [Token(w, Origin(source, line)) for w in words]
    return []


def build(*, name: str, kind: str, source: str, tokens: list[Token], env: dict[str, str],
          env_origins: dict[str, Origin], gpu_count: int | None, gpu_count_origin: Origin | None,
          device_ids: str | None = None, device_ids_origin: Origin | None = None, replicas: int = 1,
          nodes: int = 1, node: str | None = None, latency_objective_ms: float | None = None,
          extra_origins: dict[str, Origin] | None = None) -> Deployment | None:
    """A Deployment for one container, or None when it runs no known engine."""
    engine, values, origins, inline_env, notes = engineargs.parse(tokens)
    if engine is None:
        return None
    env = {**env, **inline_env}
    origins = {**env_origins, **origins, **(extra_origins or {})}
    gpus: tuple[int, ...] | None = None
    uuids: tuple[str, ...] = ()
    gpu_origin: Origin | None = None
    for var in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
        if var in env:
            g, u, why = parse_gpu_list(env[var])
            if why and why not in ("all GPUs",):
                notes.append(f"{var}={env[var]}: {why}")
            if g is not None or u:
                gpus, uuids, gpu_origin = g, u, origins.get(f"env.{var}")
                break
    if gpus is None and not uuids and device_ids is not None:
        g, u, why = parse_gpu_list(device_ids)
        gpus, uuids, gpu_origin = g, u, device_ids_origin
        if why:
            notes.append(f"device_ids {device_ids!r}: {why}")
    if gpu_origin is not None:
        origins["gpus"] = gpu_origin
    if gpu_count_origin is not None:
        origins["gpu_count"] = gpu_count_origin
    dtype = values.pop("quantization", None) or values.get("dtype")
    values.pop("dtype", None)
    if "dtype" in origins or "quantization" in origins:
        origins["dtype"] = origins.get("quantization") or origins["dtype"]
    engine_replicas = int(values.pop("replicas", 1))
    nodes = int(values.pop("nodes", nodes))
    served = values.pop("name", None)
    model = str(values.pop("model", "") or "")
    if not model:
        notes.append(f"{engine} command has no model")
    return Deployment(
        name=name if name else (served or model),
        engine=engine, model=model, kind=kind, source=source, dtype=dtype,
        replicas=replicas * engine_replicas, nodes=nodes, node=node, gpus=gpus, gpu_uuids=uuids,
        gpu_count=gpu_count, latency_objective_ms=latency_objective_ms, env=env, origins=origins,
        notes=tuple(notes), **values,
    )


def env_from_k8s(doc: Document, source: str, base: Path_, items: list[Any]) -> tuple[dict[str, str],
                                                                                    dict[str, Origin]]:
    env: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    for i, item in enumerate(items or []):
        if isinstance(item, dict) and "name" in item and "value" in item:
            value = str(item["value"])
            env[str(item["name"])] = value
            origins[f"env.{item['name']}"] = origin_at(doc, source, (*base, i, "value"), value)
    return env, origins
