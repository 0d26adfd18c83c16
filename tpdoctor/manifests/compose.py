"""docker-compose services -> Deployments: `command`, `environment`, and GPUs from
`deploy.resources.reservations.devices[].device_ids` (or `count`)."""

from __future__ import annotations

from typing import Any

from tpdoctor.manifests import containers, engineargs
from tpdoctor.manifests.engineargs import Token
from tpdoctor.manifests.k8s import LATENCY_ANNOTATION
from tpdoctor.manifests.yamlsrc import Document
from tpdoctor.model.deployment import Deployment, Origin


def is_compose(doc: Document) -> bool:
    return isinstance(doc.data, dict) and isinstance(doc.data.get("services"), dict)


def _env(doc: Document, source: str, base: tuple[Any, ...], env: Any) -> tuple[dict[str, str],
                                                                                dict[str, Origin]]:
    out: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    if isinstance(env, dict):
        for k, v in env.items():
            out[str(k)] = "" if v is None else str(v)
            origins[f"env.{k}"] = containers.origin_at(doc, source, (*base, k), out[str(k)])
    elif isinstance(env, list):
        for i, item in enumerate(env):
            k, _, v = str(item).partition("=")
            out[k] = v
            key = tuple(base) + (i,)
            span = doc.spans.get(key)
            origins[f"env.{k}"] = Origin(source, doc.line_of(key), span.col if span else 0, str(item), "flag")
    return out, origins


def read(doc: Document, source: str) -> list[Deployment]:
    out: list[Deployment] = []
    for name, svc in doc.data["services"].items():
        if not isinstance(svc, dict):
            continue
        base = ("services", name)
        cmd = svc.get("command")
        tokens: list[Token] = []
        if not cmd or (isinstance(cmd, str) and cmd.strip().startswith("-")) or \
                (isinstance(cmd, list) and cmd and str(cmd[0]).startswith("-")):
            tokens = containers.image_entrypoint(str(svc.get("image", "")), source, doc.line_of(base))
        if isinstance(cmd, str):
            tokens += engineargs.tokens_from_string(cmd, containers.origin_at(doc, source, (*base, "command"),
                                                                             cmd))
        elif isinstance(cmd, list):
            tokens += containers.command_tokens(doc, source, (*base, "command"), cmd)
        env, env_origins = _env(doc, source, (*base, "environment"), svc.get("environment"))
        devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get(
            "devices") or []
        device_ids: str | None = None
        ids_origin: Origin | None = None
        count: int | None = None
        count_origin: Origin | None = None
        for di, dev in enumerate(devices):
            if not isinstance(dev, dict):
                continue
            dpath = (*base, "deploy", "resources", "reservations", "devices", di)
            if isinstance(dev.get("device_ids"), list):
                device_ids = ",".join(str(x) for x in dev["device_ids"])
                ids_origin = containers.origin_at(doc, source, (*dpath, "device_ids"),
                                                  None)
            if dev.get("count") not in (None, "all"):
                count = int(dev["count"])
                count_origin = containers.origin_at(doc, source, (*dpath, "count"), str(dev["count"]))
        objective = (svc.get("labels") or {}).get(LATENCY_ANNOTATION) if isinstance(svc.get("labels"),
                                                                                    dict) else None
        dep = containers.build(
            name=str(name), kind="compose", source=source, tokens=tokens, env=env, env_origins=env_origins,
            gpu_count=count, gpu_count_origin=count_origin, device_ids=device_ids,
            device_ids_origin=ids_origin, latency_objective_ms=float(objective) if objective else None)
        if dep is not None:
            out.append(dep)
    return out
