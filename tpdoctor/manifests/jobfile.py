"""tpdoctor's own `job.yaml`: one deployment (a mapping) or many (`deployments: [...]`).

```yaml
deployments:
  - name: qwen35-27b
    engine: vllm                 # vllm | sglang | tgi | trtllm
    model: qwen35-27b            # catalogue name, HF repo id, or a local config.json / model dir
    dtype: fp8                   # fp32 | bf16 | fp16 | fp8 | int8 | int4 | awq | gptq
    tp: 2
    gpus: [0, 1]
    max_model_len: 16384
    max_num_seqs: 8
    latency_objective_ms: 8      # per output token (or: throughput_objective_tps: 2000, output tokens/s in all)
```
Our own schema is strict: an unknown key is an error with its line (it is almost always a typo).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tpdoctor.manifests.containers import origin_at
from tpdoctor.manifests.yamlsrc import Document
from tpdoctor.model.deployment import ENGINES, Deployment, Origin, parse_gpu_list
from tpdoctor.model.errors import ManifestError
from tpdoctor.model.frozen import maker

_KEYS = {"name", "engine", "model", "dtype", "quantization", "kv_cache_dtype", "tp", "pp", "replicas",
         "nodes", "node", "gpus", "gpu_count", "max_model_len", "max_num_seqs", "gpu_memory_utilization",
         "latency_objective_ms", "throughput_objective_tps", "env"}
_INTS = ("tp", "pp", "replicas", "nodes", "gpu_count", "max_model_len", "max_num_seqs")


@lru_cache(maxsize=1)
def _makers() -> tuple[Callable[..., Deployment], Callable[..., Origin]]:
    """Deployment(...) and Origin(...) without a frozen store per field (a job file may hold 100,000); built
    on first use, not at import (start-up)."""
    return maker(Deployment), maker(Origin)


def is_job(doc: Document) -> bool:
    d = doc.data
    return isinstance(d, dict) and "apiVersion" not in d and (
        isinstance(d.get("deployments"), list) or "model" in d and not ({"commands", "type"} & set(d)))


def _one(doc: Document, source: str, base: tuple[Any, ...], entry: Any, i: int) -> Deployment:
    if not isinstance(entry, dict):
        raise ManifestError(f"{source}:{doc.line_of(base)}: a deployment must be a mapping")
    unknown = sorted(set(entry) - _KEYS) if not _KEYS.issuperset(entry) else None
    if unknown:
        raise ManifestError(f"{source}:{doc.line_of((*base, unknown[0]))}: unknown key {unknown[0]!r} "
                            f"(known: {', '.join(sorted(_KEYS))})")
    if not entry.get("model"):
        raise ManifestError(f"{source}:{doc.line_of(base)}: deployment has no 'model'")
    origins = _origins(doc, source, base, entry)
    values: dict[str, Any] = {}
    for k in _INTS:
        if k in entry and entry[k] is not None:
            least = 0 if k == "gpu_count" else 1  # tp: 0 is refused here, not divided by later
            if not isinstance(entry[k], int) or isinstance(entry[k], bool) or not least <= entry[k] <= 1 << 40:
                raise ManifestError(f"{source}:{doc.line_of((*base, k))}: {k} must be a positive integer")
            values[k] = entry[k]
    engine = str(entry.get("engine", "vllm")).lower()
    if engine not in ENGINES:
        raise ManifestError(f"{source}:{doc.line_of((*base, 'engine'))}: engine {engine!r} "
                            f"(known: {', '.join(ENGINES)})")
    gpus = None
    uuids: tuple[str, ...] = ()
    notes: list[str] = []
    raw = entry.get("gpus")
    if isinstance(raw, list):
        raw = ",".join(str(x) for x in raw)
    if raw is not None:
        gpus, uuids, why = parse_gpu_list(str(raw))
        if why and why != "all GPUs":
            raise ManifestError(f"{source}:{doc.line_of((*base, 'gpus'))}: {why}")
    for k in ("gpu_memory_utilization", "latency_objective_ms", "throughput_objective_tps"):
        if k in entry and not isinstance(entry[k], (int, float)):
            raise ManifestError(f"{source}:{doc.line_of((*base, k))}: {k} must be a number")
    node = entry.get("node")
    if node is not None and not isinstance(node, (str, int)) or isinstance(node, bool):
        raise ManifestError(f"{source}:{doc.line_of((*base, 'node'))}: node must be one host name, not "
                            f"{type(node).__name__} {node!r} (a multi-node job gives `nodes: N`; check-deployment "
                            "--fleet places it)")
    if entry.get("env") is not None and not isinstance(entry["env"], dict):
        raise ManifestError(f"{source}:{doc.line_of((*base, 'env'))}: env must be a mapping of NAME: value")
    env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
    for k in env:
        origins[f"env.{k}"] = origin_at(doc, source, (*base, "env", k), env[k])
    dtype = entry.get("quantization") or entry.get("dtype")
    if entry.get("quantization"):
        origins["dtype"] = origins["quantization"]
    floats = ("auto", "bfloat16", "bf16", "float16", "fp16", "half", "float32", "fp32", "float")
    engine_dtype = entry.get("dtype") if str(entry.get("dtype", "")).lower() in floats else None
    return _makers()[0](
        name=str(entry.get("name") or entry["model"]), engine=engine, model=str(entry["model"]),
        kind="job", source=source, dtype=str(dtype) if dtype else None,
        quantization=str(entry["quantization"]) if entry.get("quantization") else None,
        engine_dtype=str(engine_dtype) if engine_dtype else None,
        kv_cache_dtype=entry.get("kv_cache_dtype"), node=str(node) if node is not None else None, gpus=gpus,
        gpu_uuids=uuids, placement="pinned" if gpus is not None or uuids else "scheduler",
        gpu_scope="host" if gpus is not None or uuids else None, runtime="job",
        gpu_memory_utilization=entry.get("gpu_memory_utilization"),
        latency_objective_ms=entry.get("latency_objective_ms"),
        throughput_objective_tps=entry.get("throughput_objective_tps"), env=env, origins=origins,
        notes=tuple(notes), **values)


def _origins(doc: Document, source: str, base: tuple[Any, ...], entry: dict[Any, Any]) -> dict[Any, Origin]:
    """Where each key's value is (`origin_at`, with the span looked up once: a job file may hold 100,000)."""
    spans = doc.spans
    make = _makers()[1]
    out: dict[Any, Origin] = {}
    for k, value in entry.items():
        text = None if k in ("gpus", "env") else str(value)
        span = spans.get((*base, k))
        out[k] = make(source, span.line, span.col, text, end_col=span.end_col) if span is not None \
            else origin_at(doc, source, (*base, k), text)
    return out


def read(doc: Document, source: str) -> list[Deployment]:
    d = doc.data
    if isinstance(d.get("deployments"), list):
        extra = sorted(set(d) - {"deployments"})
        if extra:
            raise ManifestError(f"{source}:{doc.line_of((extra[0],))}: unknown top-level key {extra[0]!r}")
        return [_one(doc, source, ("deployments", i), e, i) for i, e in enumerate(d["deployments"])]
    return [_one(doc, source, (), d, 0)]
