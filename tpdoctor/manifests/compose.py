"""docker-compose services -> Deployments: `entrypoint` + `command` (compose's own split, `${VAR:-default}`
interpolated as compose does from the host environment, which the file does not show: a default is used and
said), `environment`, and GPUs from `deploy.resources.reservations.devices[]` (`device_ids`, even one string
"0,1,2,3"; or `count`). Merge keys (`<<: *gpu`) are resolved by the YAML reader.
"""

from __future__ import annotations

import re
from typing import Any

from tpdoctor.manifests import build, containers, placement, vendor
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.k8s import LATENCY_ANNOTATION, get
from tpdoctor.manifests.words import Token
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Deployment, Origin
from tpdoctor.model.errors import ManifestError

_INTERP = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(raw: str) -> tuple[str, tuple[str, ...], bool]:
    """Compose's own interpolation, and nothing else (no quote or backslash processing: a `bash -c` script keeps
    its line continuations): `$$` is `$`, `${VAR:-default}`/`${VAR-default}` the default (the host environment,
    which the file does not show, can override it), any other `$VAR` stays as written and is unresolved."""
    missing: list[str] = []
    via = False

    def sub(m: re.Match[str]) -> str:
        nonlocal via
        if m.group(0) == "$$":
            return "$"
        via = True
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        if op in (":-", "-"):
            return arg or ""
        missing.append(name)
        return m.group(0)

    return _INTERP.sub(sub, raw), tuple(dict.fromkeys(missing)), via

_ENGINES = "vLLM, SGLang, TGI or TensorRT-LLM"


def is_compose(doc: Document) -> bool:
    return isinstance(doc.data, dict) and isinstance(doc.data.get("services"), dict)


def _argv(doc: Document, source: str, base: Path_, value: Any, env: containers.Env) -> list[Token]:
    if isinstance(value, str):
        return containers.string_tokens(doc, source, base, value, {})
    if isinstance(value, list):
        out: list[Token] = []
        for i, item in enumerate(value):
            raw = "" if item is None else str(item)
            text, missing, via = interpolate(raw)
            origin = containers.origin_at(doc, source, (*base, i), raw if not via else None)
            if via:
                origin = Origin(origin.file, origin.line, origin.col, None, "ref")
            out.append(Token(text, origin, False, missing if not _is_script(text) else ()))
        return out
    return []


def _is_script(text: str) -> bool:
    return "\n" in text.strip()


def _devices(doc: Document, source: str, base: Path_, svc: dict[str, Any]) -> tuple[
        str | None, Origin | None, int | None, Origin | None, bool]:
    devices = get(svc, ("deploy", "resources", "reservations", "devices"))
    ids: str | None = None
    ids_origin: Origin | None = None
    count: int | None = None
    count_origin: Origin | None = None
    everything = str(svc.get("gpus", "")).lower() == "all"
    for di, dev in enumerate(devices if isinstance(devices, list) else []):
        if not isinstance(dev, dict):
            continue
        dpath = (*base, "deploy", "resources", "reservations", "devices", di)
        if isinstance(dev.get("device_ids"), list):
            ids = ",".join(str(x) for x in dev["device_ids"])
            ids_origin = containers.origin_at(doc, source, (*dpath, "device_ids"), None)
        if str(dev.get("count")).lower() == "all" or ("count" not in dev and "device_ids" not in dev):
            everything = True  # no count and no device_ids: Docker reserves every GPU
            count_origin = containers.origin_at(doc, source, dpath, None)
        elif dev.get("count") is not None:
            count = containers.gpu_count(doc, source, (*dpath, "count"), dev["count"], "count")
            count_origin = containers.origin_at(doc, source, (*dpath, "count"), str(dev["count"]))
    return ids, ids_origin, count, count_origin, everything


def read(doc: Document, source: str) -> list[Deployment | Skip]:
    out: list[Deployment | Skip] = []
    idle: list[str] = []
    for name, svc in doc.data["services"].items():
        if not isinstance(svc, dict):
            continue
        base = ("services", name)
        env = containers.env_from_mapping(doc, source, (*base, "environment"), svc.get("environment"), True)
        entry = _argv(doc, source, (*base, "entrypoint"), svc.get("entrypoint"), env)
        tokens = entry + _argv(doc, source, (*base, "command"), svc.get("command"), env)
        image = str(svc.get("image") or "")
        found = containers.launches(tokens, env, image=image, hints=f"{name} {image}", lines=doc.lines,
                                    entrypoint_given=bool(entry))
        ids, ids_origin, count, count_origin, everything = _devices(doc, source, base, svc)
        nvd = env.values.get("NVIDIA_VISIBLE_DEVICES") if str(svc.get("runtime")) == "nvidia" else None
        visible = placement.compose_visible(ids, count, everything, nvd, ids_origin or count_origin,
                                            f"{source}:{doc.line_of((*base, 'deploy'))}")
        devices = svc.get("devices")
        node_devices = tuple(str(x) for x in devices if isinstance(x, (str, int))) if isinstance(devices, list) else ()
        other = vendor.from_devices(node_devices) or (vendor.from_image(image) if image else None)
        if other and (found or "devices" in svc):
            out.append(Skip(other, f"{source}:{doc.line_of(base)}", "not-gpu"))
            continue
        if not found and "devices" in str(svc.get("deploy") or ""):
            idle.append(str(name))
        labels = svc.get("labels") if isinstance(svc.get("labels"), dict) else {}
        objective = labels.get(LATENCY_ANNOTATION) if labels else None
        try:
            value = float(objective) if objective is not None else None
        except ValueError:
            raise ManifestError(f"{source}:{doc.line_of((*base, 'labels'))}: {LATENCY_ANNOTATION} "
                                f"{objective!r} is not a latency in ms") from None
        for f in found:
            profiles = svc.get("profiles")
            ctx = Context(source=source, kind="compose", name=str(name), gpu_count=visible.count,
                          gpu_count_origin=count_origin, latency_objective_ms=value, runtime="compose",
                          visible=visible, devices=node_devices,
                          profiles=tuple(str(p) for p in profiles) if isinstance(profiles, list) else (),
                          nvidia_named=visible.kind != "unknown" or str(svc.get("runtime")) == "nvidia")
            _defaults_note(svc, ctx)
            out.append(build.make(f, ctx))
    if idle and not out:
        shown = ", ".join(idle[:4]) + (" …" if len(idle) > 4 else "")
        out.append(Skip(f"compose service(s) {shown} reserve GPUs but start no {_ENGINES} command (an interactive "
                        "or build-only container has nothing to judge)", f"{source}:{doc.line_of(('services',))}",
                        "no-engine"))
    return out


def _defaults_note(svc: dict[str, Any], ctx: Context) -> None:
    text = str(svc.get("command") or "") + str(svc.get("entrypoint") or "")
    if ":-" in text and "${" in text:
        ctx.notes.append("values written ${VAR:-default} are read as their defaults; the environment or a .env "
                         "file can override them")
