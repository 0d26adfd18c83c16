"""Kubernetes Pod / Deployment / StatefulSet / LeaderWorkerSet manifests -> Deployments.

Every container whose command runs vLLM, SGLang, TGI or TensorRT-LLM becomes one Deployment. GPUs come
from `CUDA_VISIBLE_DEVICES`/`NVIDIA_VISIBLE_DEVICES` (pinned indices or UUIDs) or the `nvidia.com/gpu`
request (a count). The per-token latency objective is the annotation `tpdoctor.io/latency-objective-ms`;
a throughput objective (output tokens/s of all streams) is `tpdoctor.io/throughput-objective-tps`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tpdoctor.manifests import containers
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError

LATENCY_ANNOTATION = "tpdoctor.io/latency-objective-ms"
THROUGHPUT_ANNOTATION = "tpdoctor.io/throughput-objective-tps"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "Job", "DaemonSet")


def is_k8s(doc: Document) -> bool:
    return isinstance(doc.data, dict) and "apiVersion" in doc.data and "kind" in doc.data


def _pod_specs(data: dict[str, Any]) -> list[tuple[Path_, int, int]]:
    """(path of a pod spec, replicas, nodes per replica) for each pod template of the object."""
    kind = data.get("kind")
    spec = data.get("spec") or {}
    if kind == "Pod":
        return [(("spec",), 1, 1)]
    if kind in WORKLOAD_KINDS:
        return [(("spec", "template", "spec"), int(spec.get("replicas", 1) or 1), 1)]
    if kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        size = int(lwt.get("size", 1) or 1)
        key = "leaderTemplate" if "leaderTemplate" in lwt else "workerTemplate"
        return [(("spec", "leaderWorkerTemplate", key, "spec"), int(spec.get("replicas", 1) or 1), size)]
    return []


def _get(data: Any, path: Path_) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def read(doc: Document, source: str) -> list[Deployment]:
    data = doc.data
    meta = data.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    objective = annotations.get(LATENCY_ANNOTATION)
    throughput = annotations.get(THROUGHPUT_ANNOTATION)
    out: list[Deployment] = []
    for pod_path, replicas, nodes in _pod_specs(data):
        pod = _get(data, pod_path) or {}
        tmpl_meta = _get(data, pod_path[:-1] + ("metadata",)) or {}
        objective = (tmpl_meta.get("annotations") or {}).get(LATENCY_ANNOTATION, objective)
        throughput = (tmpl_meta.get("annotations") or {}).get(THROUGHPUT_ANNOTATION, throughput)
        tps = _number(throughput, THROUGHPUT_ANNOTATION, doc, source)
        node = pod.get("nodeName") or (pod.get("nodeSelector") or {}).get("kubernetes.io/hostname")
        ctrs = pod.get("containers") or []
        for ci, ctr in enumerate(ctrs):
            if not isinstance(ctr, dict):
                continue
            cpath = (*pod_path, "containers", ci)
            tokens = containers.image_entrypoint(str(ctr.get("image", "")), source, doc.line_of(cpath)) \
                if not ctr.get("command") else []
            for key in ("command", "args"):
                if isinstance(ctr.get(key), list):
                    tokens += containers.command_tokens(doc, source, (*cpath, key), ctr[key])
            env, env_origins = containers.env_from_k8s(doc, source, (*cpath, "env"), ctr.get("env") or [])
            limits = ((ctr.get("resources") or {}).get("limits") or {})
            requests = ((ctr.get("resources") or {}).get("requests") or {})
            res_key = "limits" if "nvidia.com/gpu" in limits else "requests"
            count = (limits if res_key == "limits" else requests).get("nvidia.com/gpu")
            count_path = (*cpath, "resources", res_key, "nvidia.com/gpu")
            name = str(meta.get("name", "")) + (f"/{ctr.get('name')}" if len(ctrs) > 1 else "")
            dep = containers.build(
                name=name, kind=str(data["kind"]), source=source, tokens=tokens, env=env,
                env_origins=env_origins, gpu_count=int(count) if count is not None else None,
                gpu_count_origin=containers.origin_at(doc, source, count_path, str(count))
                if count is not None else None,
                replicas=replicas, nodes=nodes, node=node,
                latency_objective_ms=float(objective) if objective is not None else None,
                extra_origins={"replicas": containers.origin_at(doc, source, ("spec", "replicas"),
                                                                str(data["spec"]["replicas"]))}
                if isinstance(data.get("spec"), dict) and "replicas" in data["spec"] else None,
            )
            if dep is not None:
                out.append(replace(dep, throughput_objective_tps=tps) if tps is not None else dep)
    return out


def _number(value: Any, key: str, doc: Document, source: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{source}:{doc.line_of(('metadata',))}: annotation {key} must be a number, "
                            f"not {value!r}") from None
