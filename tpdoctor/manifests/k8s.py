"""Kubernetes objects -> Deployments: Pod, Deployment, StatefulSet, ReplicaSet, Job, CronJob, DaemonSet and
LeaderWorkerSet (one replica spans `size` nodes), read container by container (`containers.py`).

Custom resources (KServe, KubeAI, Ray, Dynamo, production-stack …) are `crds.read`'s, which knows the popular
ones and walks any other object for pod templates, containers and engine command strings. The per-token
latency objective is the annotation `tpdoctor.io/latency-objective-ms`; a throughput objective (output
tokens/s of all streams) is `tpdoctor.io/throughput-objective-tps` (on the object or its pod template).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpdoctor.manifests import build, containers
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.placement import Visible
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.errors import ManifestError

LATENCY_ANNOTATION = "tpdoctor.io/latency-objective-ms"
THROUGHPUT_ANNOTATION = "tpdoctor.io/throughput-objective-tps"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "Job", "DaemonSet")
PLAIN_KINDS = {"Service", "ConfigMap", "Secret", "Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
               "ClusterRoleBinding", "Ingress", "HTTPRoute", "Gateway", "PersistentVolumeClaim", "PersistentVolume",
               "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "PodMonitor",
               "StorageClass", "InferencePool", "InferenceModel", "InferenceObjective", "Route", "GRPCRoute",
               "EndpointPicker", "PriorityClass", "LimitRange", "ResourceQuota", "CustomResourceDefinition"}
Result = list["Deployment | Skip"]
_TPU_SELECTORS = ("cloud.google.com/gke-tpu-accelerator", "cloud.google.com/gke-tpu-topology")


@dataclass
class Pod:
    """Where one pod template sits and how the object runs it."""

    path: Path_
    kind: str
    name: str
    replicas: int = 1
    nodes: int = 1
    inject: dict[str, str] | None = None  # variables the platform sets in the pod (LWS_GROUP_SIZE …)
    spans_nodes: bool = False  # Ray: the engine's group may take GPUs of other pods
    objective: float | None = None
    throughput: float | None = None  # tpdoctor.io/throughput-objective-tps
    gpu_keys: tuple[str, ...] = ("nvidia.com/gpu",)


def is_k8s(doc: Document) -> bool:
    return isinstance(doc.data, dict) and "apiVersion" in doc.data and isinstance(doc.data.get("kind"), str)


def get(data: Any, path: Path_) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def mapping(data: Any, path: Path_ = ()) -> dict[Any, Any]:
    """The mapping at `path`, or {} when something else (a list, a scalar, nothing) is written there."""
    value = get(data, path)
    return value if isinstance(value, dict) else {}


def items(data: Any, path: Path_ = ()) -> list[Any]:
    value = get(data, path)
    return value if isinstance(value, list) else []


def count(doc: Document, source: str, path: Path_, default: int = 1, what: str = "replicas") -> int:
    """A replica/size count as written; `replicas: many` is a ManifestError naming its line."""
    value = get(doc.data, path)
    if value is None:
        return default
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 6:
        raise ManifestError(f"{source}:{doc.line_of(path)}: {what} {value!r} is not a count (a non-negative integer)")
    return max(int(text), 1) if what != "replicas" else int(text)


def objective_of(doc: Document, source: str, path: Path_, default: float | None,
                 key: str = LATENCY_ANNOTATION) -> float | None:
    """An objective annotation (latency ms, or throughput tokens/s) on the metadata at `path`."""
    annotations = get(doc.data, (*path, "annotations"))
    if not isinstance(annotations, dict) or key not in annotations:
        return default
    value = annotations[key]
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not 0 < out < 1e9:
        raise ManifestError(f"{source}:{doc.line_of((*path, 'annotations', key))}: annotation {key} must be a "
                            f"number above 0, not {value!r}")
    return out


def _pods(doc: Document, source: str) -> list[Pod]:
    pods = _templates(doc, source)
    tps = objective_of(doc, source, ("metadata",), None, THROUGHPUT_ANNOTATION)
    for pod in pods:
        pod.throughput = objective_of(doc, source, (*pod.path[:-1], "metadata"), tps, THROUGHPUT_ANNOTATION) \
            if pod.path[-1] == "spec" and len(pod.path) > 1 else tps
    return pods


def _templates(doc: Document, source: str) -> list[Pod]:
    data = doc.data
    kind, name = str(data.get("kind")), str(get(data, ("metadata", "name")) or "")
    objective = objective_of(doc, source, ("metadata",), None)
    if kind == "Pod":
        return [Pod(("spec",), kind, name, objective=objective)]
    if kind in WORKLOAD_KINDS:
        reps = 1 if kind in ("Job", "DaemonSet") else count(doc, source, ("spec", "replicas"))
        return [Pod(("spec", "template", "spec"), kind, name, reps,
                    objective=objective_of(doc, source, ("spec", "template", "metadata"), objective))]
    if kind == "CronJob":
        return [Pod(("spec", "jobTemplate", "spec", "template", "spec"), kind, name, objective=objective)]
    if kind == "LeaderWorkerSet":
        lwt = mapping(data, ("spec", "leaderWorkerTemplate"))
        size = count(doc, source, ("spec", "leaderWorkerTemplate", "size"), 1, "size")
        key = "leaderTemplate" if isinstance(lwt, dict) and "leaderTemplate" in lwt else "workerTemplate"
        base = ("spec", "leaderWorkerTemplate", key)
        inject = {"LWS_GROUP_SIZE": str(size), "LWS_WORKER_INDEX": "0"}
        return [Pod((*base, "spec"), kind, name, count(doc, source, ("spec", "replicas")), size, inject,
                    objective=objective_of(doc, source, (*base, "metadata"), objective))]
    return []


def is_workload(doc: Document) -> bool:
    return str(doc.data.get("kind")) in (*WORKLOAD_KINDS, "Pod", "CronJob", "LeaderWorkerSet")


def read(doc: Document, source: str) -> Result:
    """A workload's pod templates (custom resources are `crds.read`'s)."""
    pods = _pods(doc, source)
    out: Result = []
    for pod in pods:
        out += read_pod(doc, source, pod)
    return out


# node labels that name the GPU model: GPU feature discovery's (NVIDIA GPU operator), GKE's, Karpenter's (EKS) and
# CoreWeave's (docs.coreweave.com, "Advanced Label Selectors")
GPU_MODEL_LABELS = ("nvidia.com/gpu.product", "cloud.google.com/gke-accelerator", "karpenter.k8s.aws/instance-gpu-name",
                    "gpu.nvidia.com/class")


def gpu_models(spec: dict[str, Any]) -> tuple[tuple[str, ...], Path_ | None]:
    """The GPU models a pod spec's node selection asks for, any of which will do, and where: a nodeSelector
    on a GPU model label, or a required node affinity `In` those labels' values (terms are alternatives)."""
    selector = spec.get("nodeSelector")
    if isinstance(selector, dict):
        for key in GPU_MODEL_LABELS:
            if isinstance(selector.get(key), str):
                return (selector[key],), ("nodeSelector", key)
    terms = get(spec, ("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                       "nodeSelectorTerms"))
    names: list[str] = []
    for term in terms if isinstance(terms, list) else []:
        exprs = term.get("matchExpressions") if isinstance(term, dict) else None
        for e in exprs if isinstance(exprs, list) else []:
            if isinstance(e, dict) and e.get("key") in GPU_MODEL_LABELS and e.get("operator") == "In" and \
                    isinstance(e.get("values"), list):
                names += [str(v) for v in e["values"]]
    return (tuple(dict.fromkeys(names)), ("affinity", "nodeAffinity")) if names else ((), None)


def read_pod(doc: Document, source: str, pod: Pod, extra: dict[str, Any] | None = None,
             extra_origins: dict[str, Origin] | None = None) -> Result:
    """Every engine launch in one pod template's containers."""
    spec = get(doc.data, pod.path)
    if not isinstance(spec, dict):
        return []
    node = spec.get("nodeName") or get(spec, ("nodeSelector", "kubernetes.io/hostname"))
    tpu = any(k in (spec.get("nodeSelector") or {}) for k in _TPU_SELECTORS) if isinstance(
        spec.get("nodeSelector"), dict) else False
    asked, where = gpu_models(spec)
    asked_origin = containers.origin_at(doc, source, (*pod.path, *where), None) if where else None
    raw = spec.get("containers")
    ctrs: list[Any] = raw if isinstance(raw, list) else []
    out: Result = []
    for ci, ctr in enumerate(ctrs):
        if not isinstance(ctr, dict):
            continue
        cname = f"{pod.name}/{ctr.get('name')}" if len(ctrs) > 1 else pod.name
        out += read_container(doc, source, (*pod.path, "containers", ci), ctr, pod, cname,
                              node=str(node) if node else None, tpu=tpu, extra=extra, extra_origins=extra_origins,
                              gpu_asked=asked, gpu_asked_origin=asked_origin)
    return out


def read_container(doc: Document, source: str, cpath: Path_, ctr: dict[str, Any], pod: Pod, name: str, *,
                   node: str | None = None, tpu: bool = False, extra: dict[str, Any] | None = None,
                   extra_origins: dict[str, Origin] | None = None, more_args: list[Any] | None = None,
                   gpu_asked: tuple[str, ...] = (), gpu_asked_origin: Origin | None = None) -> Result:
    """One container: its env, argv and GPU request, then each engine launch in it."""
    env = containers.env_from_k8s(doc, source, (*cpath, "env"), ctr.get("env"), pod.inject or {})
    tokens = []
    for key in ("command", "args"):
        if isinstance(ctr.get(key), list):
            tokens += containers.list_tokens(doc, source, (*cpath, key), ctr[key], env)
        elif isinstance(ctr.get(key), str):
            tokens += containers.string_tokens(doc, source, (*cpath, key), ctr[key], env.values)
    tokens += more_args or []
    image = str(ctr.get("image") or "")
    found = containers.launches(tokens, env, image=image, hints=f"{name} {image}", lines=doc.lines,
                                entrypoint_given=isinstance(ctr.get("command"), (list, str)))
    if not found:
        return []
    gpus, gpu_origin, not_gpu = containers.gpu_resources(doc, source, cpath, ctr.get("resources"), pod.gpu_keys)
    if tpu and not not_gpu:
        not_gpu = "a TPU job (GKE TPU node pool)"
    out: Result = []
    for f in found:
        ctx = Context(source=source, kind=pod.kind, name=name, replicas=pod.replicas, nodes=pod.nodes, node=node,
                      gpu_count=gpus, gpu_count_origin=gpu_origin, latency_objective_ms=pod.objective,
                      accelerator=not_gpu, extra=dict(extra or {}), extra_origins=dict(extra_origins or {}),
                      pod_spans_nodes=pod.spans_nodes, throughput_objective_tps=pod.throughput,
                      runtime="kubernetes", nvidia_named=gpu_origin is not None, gpu_asked=gpu_asked,
                      gpu_asked_origin=gpu_asked_origin,
                      visible=Visible("scheduler", count=gpus, origin=gpu_origin, container=True)
                      if gpu_origin is not None else None)
        if "replicas" in (get(doc.data, ("spec",)) or {}) and isinstance(get(doc.data, ("spec",)), dict):
            ctx.extra_origins.setdefault("replicas", containers.origin_at(doc, source, ("spec", "replicas"),
                                                                          str(doc.data["spec"]["replicas"])))
        out.append(build.make(f, ctx))
    return out
