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


def _options(value: Any) -> list[str]:
    """An accelerators value as option strings: "H100:8", {H100: 8, A100-80GB: 8}, [L4, A10g]."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [f"{k}:{v}" if v is not None else str(k) for k, v in value.items()]
    return [str(v) for v in value] if isinstance(value, list) else []


def accelerator_options(resources: Any) -> tuple[list[str], tuple[str, ...] | None]:
    """The accelerator options a task offers, any of which will do, and where they are written: `accelerators`
    or its alias `gpus`, else one per `any_of`/`ordered` alternative (none when an alternative names none)."""
    if not isinstance(resources, dict):
        return [], None
    for key in ("accelerators", "gpus"):
        if resources.get(key) is not None:
            return _options(resources[key]), ("resources", key)
    for key in ("any_of", "ordered"):
        alternatives = resources.get(key)
        if isinstance(alternatives, list) and alternatives:
            found = [accelerator_options(alt)[0] for alt in alternatives]
            return ([o for opts in found for o in opts] if all(found) else []), ("resources", key)
    return [], None


def _accelerators(options: list[str]) -> tuple[int | None, str | None, tuple[str, ...]]:
    """(GPUs per node when every option agrees, why it is not a GPU job, the GPU models the options name
    ("H100", "A100-80GB"), any of which will do)."""
    matches = [_ACCEL.match(opt) for opt in options]
    models = tuple(dict.fromkeys(m.group(1) for m in matches if m))
    if not all(matches):
        return None, None, models
    tpus = [opt for opt, m in zip(options, matches) if m and m.group(1).lower().startswith("tpu")]
    if tpus:  # a TPU job when every option is a TPU; either kind may be provisioned otherwise
        return None, f"a TPU job (accelerators {tpus[0]})" if len(tpus) == len(options) else None, models
    counts = {int(m.group(2) or 1) for m in matches if m}
    return (counts.pop(), None, models) if len(counts) == 1 else (None, None, models)


def read(doc: Document, source: str) -> list[Deployment | Skip]:
    d = doc.data
    options, where = accelerator_options(d.get("resources"))
    per_node, not_gpu, asked = _accelerators(options)
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
                      gpu_asked_origin=containers.origin_at(doc, source, where, None) if asked and where else None)
        if per_node is None:
            ctx.notes.append("resources.accelerators offers different GPU counts: SKYPILOT_NUM_GPUS_PER_NODE "
                             "depends on which one SkyPilot provisions")
        out.append(build.make(f, ctx))
    return out
