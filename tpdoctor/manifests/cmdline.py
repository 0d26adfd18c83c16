"""Plain engine command lines (a shell script or a text file): one Deployment per engine command.

Backslash continuations are joined; each physical line is tokenised on its own so every value keeps its
exact line for errors and `--fix`. A `# tpdoctor: name=… latency_objective_ms=…` comment before a
command names it and sets its objective.
"""

from __future__ import annotations

import re

from tpdoctor.manifests import engineargs
from tpdoctor.manifests.engineargs import Token
from tpdoctor.model.deployment import Deployment, Origin, parse_gpu_list

_DIRECTIVE = re.compile(r"#\s*tpdoctor:\s*(.*)$")


def _commands(text: str, source: str) -> list[tuple[list[Token], dict[str, str]]]:
    out: list[tuple[list[Token], dict[str, str]]] = []
    current: list[Token] = []
    directive: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        m = _DIRECTIVE.search(raw)
        if m and not current:
            directive = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
            continue
        stripped = raw.rstrip()
        cont = stripped.endswith("\\")
        body = stripped[:-1] if cont else stripped
        if body.strip() and not body.strip().startswith("#"):
            current += engineargs.tokens_from_string(body, Origin(source, n, 0))
        if not cont and current:
            out.append((current, directive))
            current, directive = [], {}
    if current:
        out.append((current, directive))
    return out


def read(text: str, source: str) -> list[Deployment]:
    deployments: list[Deployment] = []
    for tokens, directive in _commands(text, source):
        engine, values, origins, env, notes = engineargs.parse(tokens)
        if engine is None:
            continue
        gpus = None
        uuids: tuple[str, ...] = ()
        for var in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
            if var in env:
                gpus, uuids, why = parse_gpu_list(env[var])
                if why and why != "all GPUs":
                    notes.append(f"{var}={env[var]}: {why}")
                origins["gpus"] = origins[f"env.{var}"]
                break
        dtype = values.pop("quantization", None) or values.pop("dtype", None)
        values.pop("dtype", None)
        if "quantization" in origins:
            origins["dtype"] = origins["quantization"]
        served = values.pop("name", None)
        model = str(values.pop("model", "") or "")
        objective = directive.get("latency_objective_ms")
        deployments.append(Deployment(
            name=directive.get("name") or served or model or f"{engine}@{tokens[0].origin.line}",
            engine=engine, model=model, kind="cmdline", source=source, dtype=dtype,
            replicas=int(values.pop("replicas", 1)), nodes=int(values.pop("nodes", 1)),
            node=directive.get("node"), gpus=gpus, gpu_uuids=uuids,
            latency_objective_ms=float(objective) if objective else None, env=env, origins=origins,
            notes=tuple(notes), **values))
    return deployments
