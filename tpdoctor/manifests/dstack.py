"""dstack run configurations (`type: service` / `task`, `.dstack.yml`) -> Deployments.

The engine command is in `commands:` (shell lines run in `image`); `env:` entries are `NAME=value` (or `NAME`,
passed from where `dstack apply` runs: not in the file). dstack's runner sets `DSTACK_GPUS_NUM` (all GPUs of the
run), `DSTACK_GPUS_PER_NODE`, `DSTACK_NODES_NUM` and `DSTACK_NODE_RANK` (dstack runner/internal/runner/executor/
executor.go). `resources.gpu` is dstack's GPU spec, `:`-separated tokens in any order (core/models/resources.py
GPUSpec.parse): a vendor (`nvidia`, `amd`, `google`/`tpu`, `intel`), a name starting with a letter (`H100`,
`A100,H100`), a memory (`24GB`), a count (`8`, or a range `1..2`); no count is dstack's default minimum, 1.
`replicas:` is a count, a range (`1..4`: judged at its minimum) or a list of replica groups, each with its own
`commands` and `resources` (one deployment per group); `nodes:` a task's node count. An AMD or TPU accelerator
makes it not an NVIDIA job.
"""

from __future__ import annotations

import re
from typing import Any

from tpdoctor.manifests import build, containers, script, vendor
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.k8s import get
from tpdoctor.manifests.placement import Visible
from tpdoctor.manifests.words import SearchLocator
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError

TYPES = ("service", "task", "dev-environment")
_VENDORS = {"amd": "amd", "google": "tpu", "tpu": "tpu", "intel": "gaudi"}
_RANGE = re.compile(r"^(\d+)?\.\.(\d+)?$")


def is_dstack(doc: Document) -> bool:
    d = doc.data
    return isinstance(d, dict) and d.get("type") in TYPES and ("commands" in d or "image" in d or "replicas" in d)


def gpu_spec(spec: Any) -> tuple[int | None, str | None, tuple[str, ...]]:
    """(GPUs per node, why it is not an NVIDIA job, the GPU models it names) of a `resources.gpu` value. The
    models, any of which will do, carry its memory when exact: "H100:80GB:2" -> ("H100 80GB",),
    {name: [H100, H200]} -> ("H100", "H200"); "24GB..:2" names none."""
    if spec is None:
        return None, None, ()
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec, None, ()
    if isinstance(spec, dict):
        name = spec.get("name")
        names = [str(n) for n in (name if isinstance(name, list) else [name] if name else [])]
        models = _models(names, str(spec.get("memory") or ""))
        for n in names:
            other = vendor.from_accelerator(n)
            if other:
                return None, other, models
        v = _VENDORS.get(str(spec.get("vendor", "")).lower())
        if v:
            return None, vendor.describe(v, f"gpu vendor {spec['vendor']}"), models
        given = spec.get("count")
        return (given if isinstance(given, int) else _count(str(given)) if given is not None else 1), None, models
    tokens = str(spec).replace(" ", "").split(":")
    models = _models([n for t in tokens if t[:1].isalpha() for n in t.split(",") if n],
                     next((t for t in tokens if t[:1].isdigit() and t.lower().endswith("gb")), "")
                     ) if isinstance(spec, str) else ()
    count: int | None = 1
    for token in tokens:
        if token.lower() in _VENDORS:
            return None, vendor.describe(_VENDORS[token.lower()], f"gpu: {spec}"), models
        if token[:1].isalpha():
            for n in token.split(","):
                other = vendor.from_accelerator(n)
                if other:
                    return None, other, models
        elif not any(c.isalpha() for c in token):
            count = _count(token)
    return count, None, models


def _models(names: list[str], memory: str) -> tuple[str, ...]:
    exact = memory if re.fullmatch(r"\d+(?:GB)?", memory, re.IGNORECASE) else ""
    return tuple(f"{n} {exact}".strip() for n in names)


def _count(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    m = _RANGE.match(token)
    if m and m.group(1) and m.group(1) == m.group(2):
        return int(m.group(1))
    return None  # a range of counts: dstack picks an offer, the file does not say which


def _replicas(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 1)
    m = _RANGE.match(str(value).replace(" ", "")) if value is not None else None
    return max(int(m.group(1)), 1) if m and m.group(1) else 1


def _env(doc: Document, source: str, path: Path_, items: Any) -> containers.Env:
    return containers.env_from_mapping(doc, source, path, items, False)


def _group(doc: Document, source: str, base: Path_, group: dict[str, Any], top: dict[str, Any],
           name: str) -> list[Deployment | Skip]:
    commands = group.get("commands") if "commands" in group else top.get("commands")
    cpath = (*base, "commands") if "commands" in group else ("commands",)
    if not isinstance(commands, list) or not commands:
        return []
    resources = group.get("resources") if "resources" in group else top.get("resources")
    per_node, other, asked = gpu_spec(get(resources, ("gpu",)))
    nodes = top.get("nodes", 1)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        raise ManifestError(f"{source}:{doc.line_of(('nodes',))}: nodes {nodes!r} is not a node count")
    env = _env(doc, source, ("env",), top.get("env"))
    values = {**env.values, "DSTACK_NODES_NUM": str(nodes)}
    if per_node is not None:
        values.update(DSTACK_GPUS_PER_NODE=str(per_node), DSTACK_GPUS_NUM=str(per_node * nodes))
    image = str(top.get("image") or "")
    replicas = _replicas(group.get("count") if "count" in group else top.get("replicas"))
    out: list[Deployment | Skip] = []
    for i, cmd in enumerate(commands):
        span = doc.spans.get((*cpath, i))
        loc = SearchLocator(doc.lines, source, span.line if span else doc.line_of(cpath), span.col if span else 0)
        for f in script.walk(str(cmd), values, loc, env_origins=env.origins, image=image, hints=image):
            f.env_unresolved = {**env.unresolved, **f.env_unresolved}
            if image and f.launch.image is None:
                f.launch.image = image
            ctx = Context(source=source, kind="dstack", name=name, replicas=replicas, nodes=nodes,
                          gpu_count=per_node, accelerator=other, runtime="dstack", nvidia_named=per_node is not None,
                          gpu_asked=asked, gpu_asked_origin=containers.origin_at(
                              doc, source, (*base, "resources", "gpu") if "resources" in group
                              else ("resources", "gpu"), None) if asked else None,
                          visible=Visible("scheduler", count=per_node,
                                          origin=containers.origin_at(doc, source, (*base, "resources"), None)
                                          if "resources" in group else None))
            out.append(build.make(f, ctx))
    return out


def read(doc: Document, source: str) -> list[Deployment | Skip]:
    d = doc.data
    name = str(d.get("name") or source.rsplit("/", 1)[-1])
    groups = d.get("replicas")
    out: list[Deployment | Skip] = []
    if isinstance(groups, list):
        for gi, group in enumerate(groups):
            if isinstance(group, dict):
                out += _group(doc, source, ("replicas", gi), group, d, f"{name}/{group.get('name') or gi}")
    else:
        out += _group(doc, source, (), {}, d, name)
    return out
