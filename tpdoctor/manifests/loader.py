"""Read any supported manifest file into Deployments (format detected from content, not only the name).

Formats: tpdoctor's job.yaml, Kubernetes objects (workloads, LeaderWorkerSet, custom resources), docker-compose,
production-stack Helm values, SkyPilot tasks, Dockerfiles, and shell text holding engine command lines.
Files are read through the bounded reader (regular files, size-capped, UTF-8). Every refusal is one
ManifestError naming file:line and why: malformed YAML, a Helm template, merge-conflict markers, a value the
engine would refuse, or nothing to judge (no engine command; a TPU, Gaudi or NPU job; a build step).
Each deployment gets an identity unique per file and line (`Deployment.key`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tpdoctor.files.read import read_text as read_file
from tpdoctor.manifests import cmdline, compose, crds, dockerfile, dstack, flowlist, jobfile, k8s, skypilot
from tpdoctor.manifests.build import Skip
from tpdoctor.manifests.yamlsrc import Document, load_documents, refuse_templates
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError, NotADeployment

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: start-up cost

_YAML_SUFFIXES = (".yaml", ".yml")
_SHELL_SUFFIXES = (".sh", ".bash", ".zsh", ".slurm", ".sbatch", ".ps1")
ENGINES_TEXT = "vLLM, SGLang, TGI or TensorRT-LLM"
MAX_DEPLOYMENTS = 100_000


def detect_format(text: str, path: str) -> str:
    """yaml | dockerfile | cmdline: YAML suffixes are YAML; shell suffixes are shell; a Dockerfile by name or
    its FROM … CMD shape; anything else is YAML when it parses as a mapping of sections, else shell text."""
    if path.endswith(_YAML_SUFFIXES):
        return "yaml"
    if path.endswith(_SHELL_SUFFIXES):
        return "cmdline"
    if dockerfile.is_dockerfile(text, path):
        return "dockerfile"
    try:
        docs = list(yaml.load_all(text, Loader=_LOADER)) if len(text) < 1_000_000 and "\n" in text.strip() else []
    except (yaml.YAMLError, RecursionError, ValueError):
        return "cmdline"
    if any(isinstance(d, dict) and any(isinstance(v, (dict, list)) for v in d.values()) for d in docs):
        return "yaml"
    return "cmdline"


def _read_doc(doc: Document, source: str) -> list[Deployment | Skip]:
    if not isinstance(doc.data, dict):
        line = doc.line_of(())
        raise ManifestError(f"{source}:{line}: not a job.yaml, Kubernetes object, compose file or SkyPilot task")
    if k8s.is_k8s(doc):
        return k8s.read(doc, source) if k8s.is_workload(doc) else crds.read(doc, source)
    if compose.is_compose(doc):
        return compose.read(doc, source)
    if dstack.is_dstack(doc):
        return dstack.read(doc, source)
    if skypilot.is_skypilot(doc):
        return skypilot.read(doc, source)
    if "servingEngineSpec" in doc.data:
        return crds.pstack_values(doc, source)
    if jobfile.is_job(doc):
        return list(jobfile.read(doc, source))
    found = crds.walk(doc, source, (), "YAML", source.rsplit("/", 1)[-1])
    if found:
        return found
    line = doc.line_of(())
    raise NotADeployment(f"{source}:{line}: not a job.yaml, Kubernetes object, compose file or SkyPilot task, and "
                         f"no {ENGINES_TEXT} command in it")


def read_text(text: str, source: str) -> list[Deployment]:
    fmt = detect_format(text, source)
    found: list[Deployment | Skip] = []
    if fmt == "cmdline":
        refuse_templates(text, source) if "<<<<<<<" in text else None
        found = cmdline.read(text, source)
    elif fmt == "dockerfile":
        found = dockerfile.read(text, source)
    else:
        for doc in flowlist.documents(text, source) or load_documents(text, source):
            found += _read_doc(doc, source)
    deps = [d for d in found if isinstance(d, Deployment)]
    if not deps:
        raise NotADeployment(_nothing(found, source, fmt))
    if len(deps) > MAX_DEPLOYMENTS:
        raise ManifestError(f"{source}: {len(deps)} deployments, more than the {MAX_DEPLOYMENTS:,} one check reads")
    skipped = [s for s in found if isinstance(s, Skip) and s.kind != "no-engine"]
    if skipped:
        note = "; ".join(f"{s.where}: skipped {s.why}" for s in skipped[:3])
        deps = [d.with_values(notes=(*d.notes, note)) for d in deps]
    return identify(deps)


def _nothing(found: list[Deployment | Skip], source: str, fmt: str) -> str:
    skips = [s for s in found if isinstance(s, Skip)]
    not_gpu = [s for s in skips if s.kind == "not-gpu"]
    if not_gpu:
        s = not_gpu[0]
        return f"{s.where}: {s.why}: not an NVIDIA GPU job (tpdoctor checks deployments on NVIDIA GPUs)"
    builds = [s for s in skips if s.kind == "build"]
    if builds:
        s = builds[0]
        return f"{s.where}: only {s.why}; nothing here serves a model"
    if skips:
        return f"{skips[0].where}: {skips[0].why}"
    if fmt == "cmdline" or fmt == "dockerfile":
        return f"{source}: no {ENGINES_TEXT} command found"
    return f"{source}: no deployment running {ENGINES_TEXT} found"


def identify(deps: list[Deployment]) -> list[Deployment]:
    """Give each deployment its identity: file:line of what launches it, `#n` when a line holds several."""
    seen: dict[str, int] = {}
    out: list[Deployment] = []
    for d in deps:
        base = d.ident  # its key when set, else file:line of its launch
        n = seen.get(base, 0) + 1
        seen[base] = n
        out.append(d if n == 1 else d.with_values(key=f"{base}#{n}"))  # the first keeps `ident` as it is
    return out


def read(path: str | Path) -> list[Deployment]:
    p = Path(path)
    return read_text(read_file(p, what="a manifest"), str(p))
