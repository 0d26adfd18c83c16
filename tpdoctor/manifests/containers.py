"""A container (Kubernetes, docker-compose, a custom resource's pod template) -> its engine launches.

The container runtime's own rules: `command` replaces the image's ENTRYPOINT and `args` its CMD (compose:
`entrypoint` and `command`); an image whose entrypoint is the engine (`vllm/vllm-openai`, TGI) takes `args`
as engine flags, or runs them when they start with a program (`python3 -m …`). Kubernetes expands `$(VAR)`
from the container's own `env` (earlier entries only) before anything runs; a `sh -c` script then sees
that env as its shell variables. A TGI container with no arguments is configured by its env alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.manifests import launch as launcher
from tpdoctor.manifests import script, shell, words
from tpdoctor.manifests.engines import by_flags
from tpdoctor.manifests.launch import Launch
from tpdoctor.manifests.script import Found
from tpdoctor.manifests.words import SearchLocator, Token
from tpdoctor.manifests.yamlsrc import Document, Path_
from tpdoctor.model.deployment import Origin
from tpdoctor.model.errors import ManifestError

_K8S_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_TEMPLATE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # envsubst: filled before `kubectl apply`
_PROGRAMS = re.compile(r"^(/\S*/)?(python[0-9.]*|vllm|sglang|text-generation-launcher|trtllm-serve|sh|bash|"
                       r"exec|env|nohup|torchrun|mpirun|srun)$")
NOT_GPU_RESOURCES = {"google.com/tpu": "a TPU job (google.com/tpu)", "habana.ai/gaudi": "an Intel Gaudi HPU job "
                     "(habana.ai/gaudi)", "amd.com/gpu": "an AMD GPU job (amd.com/gpu)",
                     "aws.amazon.com/neuron": "an AWS Neuron job (aws.amazon.com/neuron)",
                     "aws.amazon.com/neuroncore": "an AWS Neuron job (aws.amazon.com/neuroncore)"}


@dataclass
class Env:
    values: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    unresolved: dict[str, tuple[str, ...]] = field(default_factory=dict)  # valueFrom, $(X) of unknown X


def origin_at(doc: Document, source: str, path: Path_, text: str | None = None) -> Origin:
    span = doc.spans.get(tuple(path))
    line = doc.line_of(path)
    return Origin(source, line, span.col if span else 0, text, end_col=span.end_col if span else None)


def lines_of(doc: Document) -> list[str] | None:
    return getattr(doc, "lines", None)


def k8s_expand(text: str, env: Env) -> tuple[str, tuple[str, ...]]:
    """Kubernetes dependent variables: `$(NAME)` from the container env, `$$` an escaped `$`; an unknown
    `$(NAME)` stays as written (and is unresolved)."""
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name in env.values:
            return env.values[name]
        missing.append(name)
        return m.group(0)

    out = _K8S_REF.sub(sub, text)
    missing += [m for m in _TEMPLATE_VAR.findall(out) if m not in missing]  # a ${VAR} template: unknown here
    return out, tuple(missing)


def env_from_k8s(doc: Document, source: str, base: Path_, items: Any, inject: Mapping[str, str]) -> Env:
    """A container's `env` list; `valueFrom` (secrets, fieldRefs) is unknown by name; `$(X)` refers to
    earlier entries (and to variables the platform injects, e.g. LWS_GROUP_SIZE)."""
    env = Env(dict(inject))
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or "name" not in item:
            continue
        name = str(item["name"])
        env.origins[f"env.{name}"] = origin_at(doc, source, (*base, i, "value"), None)
        if "value" not in item:
            env.unresolved[name] = (name,)
            env.values.pop(name, None)
            continue
        value, missing = k8s_expand("" if item["value"] is None else str(item["value"]), env)
        env.origins[f"env.{name}"] = origin_at(doc, source, (*base, i, "value"), value if not missing else None)
        if missing:
            env.unresolved[name] = missing
            env.values.pop(name, None)
        else:
            env.values[name] = value
            env.unresolved.pop(name, None)
    return env


def env_from_mapping(doc: Document, source: str, base: Path_, items: Any, interpolate: bool) -> Env:
    """compose `environment` (a mapping or a list of NAME=value), with compose's `${VAR:-default}`."""
    env = Env()
    pairs: list[tuple[str, Any, Path_]] = []
    if isinstance(items, dict):
        pairs = [(str(k), v, (*base, k)) for k, v in items.items()]
    elif isinstance(items, list):
        pairs = [(str(x).partition("=")[0], str(x).partition("=")[2] if "=" in str(x) else None, (*base, i))
                 for i, x in enumerate(items)]
    for name, value, path in pairs:
        env.origins[f"env.{name}"] = origin_at(doc, source, path, None)
        if value is None:  # from the host environment: not in the file
            env.unresolved[name] = (name,)
            continue
        e = shell.expand(str(value), {}) if interpolate else shell.Expanded(str(value))
        if e.unresolved:
            env.unresolved[name] = e.unresolved
        else:
            env.values[name] = e.value
            env.origins[f"env.{name}"] = origin_at(doc, source, path, None if e.via_variable else str(value))
    return env


def setting_tokens(doc: Document, source: str, path: Path_, flag: str, value: Any) -> list[Token]:
    """One engine setting written as a YAML key (CRD args, Ray Serve engine_kwargs) as command-line tokens
    with their origins: `--flag value`; a true boolean is the bare flag, a false one nothing."""
    if isinstance(value, bool):
        return [Token(flag, origin_at(doc, source, path, None))] if value else []
    return [Token(flag, origin_at(doc, source, path, None)),
            Token(str(value), origin_at(doc, source, path, str(value)))]


def list_tokens(doc: Document, source: str, base: Path_, items: list[Any], env: Env) -> list[Token]:
    """A command/args list: each item one argument, `$(VAR)` expanded as Kubernetes does."""
    out: list[Token] = []
    for i, item in enumerate(items):
        raw = "" if item is None else str(item)
        text, missing = k8s_expand(raw, env)
        origin = origin_at(doc, source, (*base, i), raw)
        if text != raw or missing:
            origin = Origin(origin.file, origin.line, origin.col, None, "ref")
        out.append(Token(text, origin, False, missing))
    return out


def string_tokens(doc: Document, source: str, path: Path_, text: str, env: Mapping[str, str]) -> list[Token]:
    """A command given as one string (compose `command: "…"`): split into words, `${VAR:-d}` interpolated."""
    span = doc.spans.get(tuple(path))
    loc = SearchLocator(lines_of(doc), source, span.line if span else doc.line_of(path), span.col if span else 0)
    toks: list[Token] = []
    for cmd in shell.commands(text):
        toks += words.tokens(cmd, env, loc)
    return toks


def launches(tokens: list[Token], env: Env, *, image: str, hints: str, lines: list[str] | None,
             entrypoint_given: bool) -> list[Found]:
    """The engine launches of a container whose full argv is `tokens` (empty: the image's own command)."""
    engine, accel, is_entry = launcher.image_engine(image)
    if not entrypoint_given and is_entry and engine is not None and (
            not tokens or not _PROGRAMS.match(tokens[0].text)):
        entry = Token(image, tokens[0].origin if tokens else Origin(""))
        lc = Launch(engine, "serve", tokens, entry, engine == "vllm", image, accel)
        return [Found(lc, dict(env.values), dict(env.origins), dict(env.unresolved))]
    if not tokens:
        return []
    found = launcher.find(tokens, image=image, hints=hints)
    if found is None and not entrypoint_given and tokens[0].text.startswith("-"):
        guess = by_flags(tokens)  # a custom image whose entrypoint is the engine: its flags say which
        if guess is not None:
            found = Launch(guess, "serve", tokens, Token(image, tokens[0].origin), guess == "vllm", image, accel,
                           note=f"image {image or '(none)'} is not one tpdoctor knows: its engine is read from the "
                                "flags")
    if found is None:
        return []
    if found.role == "script" and found.script is not None:
        tok = found.script
        loc = SearchLocator(lines, tok.origin.file, tok.origin.line, tok.origin.col)
        out = script.walk(tok.text, env.values, loc, env_origins=env.origins, image=image, hints=hints)
        for f in out:
            f.env_unresolved = {**env.unresolved, **f.env_unresolved}
            if accel and f.launch.accelerator is None:
                f.launch.accelerator = accel
        return out
    found.image = found.image or image
    found.accelerator = found.accelerator or accel
    return [Found(found, {**env.values, **found.env}, {**env.origins, **found.env_origins},
                  {**env.unresolved, **found.env_unresolved})]


def gpu_resources(doc: Document, source: str, cpath: Path_, resources: Any,
                  keys: tuple[str, ...] = ("nvidia.com/gpu",)) -> tuple[int | None, Origin | None, str | None]:
    """(GPUs requested, where, why it is not an NVIDIA GPU job) from a container's `resources`."""
    if not isinstance(resources, dict):
        return None, None, None
    for part in ("limits", "requests"):
        block = resources.get(part)
        if not isinstance(block, dict):
            continue
        for key, why in NOT_GPU_RESOURCES.items():
            if key in block:
                return None, None, why
        if any(str(k).startswith("huawei.com/ascend") or str(k).startswith("huawei.com/Ascend") for k in block):
            return None, None, "an Ascend NPU job (huawei.com/Ascend*)"
        for key in keys:
            if key in block:
                path = (*cpath, "resources", part, key)
                where = origin_at(doc, source, path, str(block[key]))
                if _TEMPLATE_VAR.fullmatch(str(block[key]).strip()):  # envsubst: the count is set elsewhere
                    return None, Origin(where.file, where.line, where.col, None, "ref"), None
                return gpu_count(doc, source, path, block[key], key), where, None
    return None, None, None


def gpu_count(doc: Document, source: str, path: Path_, value: Any, what: str) -> int:
    """A GPU count as written (`2`, `"2"`); anything else is a ManifestError naming its line."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 5:
        raise ManifestError(f"{source}:{doc.line_of(path)}: {what} {value!r} is not a GPU count "
                            "(a non-negative integer)")
    return int(text)
