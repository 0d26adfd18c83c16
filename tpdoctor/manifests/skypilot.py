"""SkyPilot task YAML (`resources`, `num_nodes`, `envs`, `run`) -> Deployments.

The engine command lives in the `run:` shell block; SkyPilot sets `SKYPILOT_NUM_GPUS_PER_NODE` from
`resources.accelerators` (only when every alternative has the same count: `{H100:8, A100-80GB:8}` is 8,
`{A100:8, A100:4}` is unknown) and `SKYPILOT_NUM_NODES` from `num_nodes`; `envs` are the task's variables.
The task spans `num_nodes` nodes; `service.replicas` (or `replica_policy.min_replicas`, at least 1) copies.
"""

from __future__ import annotations

import re
from typing import Any

from tpdoctor.manifests import build, containers, script
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.k8s import count, get
from tpdoctor.manifests.words import SearchLocator
from tpdoctor.manifests.yamlsrc import Document
from tpdoctor.model.deployment import Deployment

_ACCEL = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?::(\d+))?\s*$")


def is_skypilot(doc: Document) -> bool:
    d = doc.data
    return isinstance(d, dict) and isinstance(d.get("run"), str) and ("resources" in d or "num_nodes" in d
                                                                      or "envs" in d or "setup" in d)


def gpu_models(value: Any) -> tuple[str, ...]:
    """The GPU models `resources.accelerators` offers, any of which will do ("H100", "A100-80GB")."""
    options = [value] if isinstance(value, str) else [str(k) for k in value] if isinstance(value, (dict, list)) \
        else []
    return tuple(dict.fromkeys(m.group(1) for m in map(_ACCEL.match, (str(o) for o in options)) if m))


def _accelerators(value: Any) -> tuple[int | None, str | None]:
    """(GPUs per node when every option agrees, why it is not a GPU job)."""
    options: list[str] = []
    if isinstance(value, str):
        options = [value]
    elif isinstance(value, dict):
        options = [f"{k}:{v}" if v is not None else str(k) for k, v in value.items()]
    elif isinstance(value, list):
        options = [str(v) for v in value]
    counts: set[int] = set()
    for opt in options:
        m = _ACCEL.match(opt)
        if not m:
            return None, None
        if m.group(1).lower().startswith("tpu"):
            return None, f"a TPU job (accelerators {opt})"
        counts.add(int(m.group(2) or 1))
    return (counts.pop(), None) if len(counts) == 1 else (None, None)


def read(doc: Document, source: str) -> list[Deployment | Skip]:
    d = doc.data
    per_node, not_gpu = _accelerators(get(d, ("resources", "accelerators")))
    asked = gpu_models(get(d, ("resources", "accelerators")))
    nodes = count(doc, source, ("num_nodes",), 1, "num_nodes")
    env = containers.env_from_mapping(doc, source, ("envs",), d.get("envs"), False)
    values = dict(env.values)
    values["SKYPILOT_NUM_NODES"] = str(nodes)
    if per_node is not None:
        values["SKYPILOT_NUM_GPUS_PER_NODE"] = str(per_node)
    span = doc.spans.get(("run",))
    loc = SearchLocator(doc.lines, source, span.line if span else None, span.col if span else 0)
    image = str(get(d, ("resources", "image_id")) or "")
    replicas = get(d, ("service", "replicas"))
    if replicas is None:
        replicas = max(1, count(doc, source, ("service", "replica_policy", "min_replicas"), 1))
    else:
        replicas = count(doc, source, ("service", "replicas"))
    out: list[Deployment | Skip] = []
    for f in script.walk(str(d["run"]), values, loc, env_origins=env.origins, image=image, hints=image):
        ctx = Context(source=source, kind="SkyPilot", name=str(d.get("name") or ""), replicas=replicas, nodes=nodes,
                      gpu_count=per_node, accelerator=not_gpu, gpu_asked=asked,
                      gpu_asked_origin=containers.origin_at(doc, source, ("resources", "accelerators"), None)
                      if asked else None)
        if per_node is None:
            ctx.notes.append("resources.accelerators offers different GPU counts: SKYPILOT_NUM_GPUS_PER_NODE "
                             "depends on which one SkyPilot provisions")
        out.append(build.make(f, ctx))
    return out
