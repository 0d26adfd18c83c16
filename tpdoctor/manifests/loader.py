"""Read any supported manifest file into Deployments (format detected from content, not the name)."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.manifests import cmdline, compose, jobfile, k8s
from tpdoctor.manifests.yamlsrc import load_documents
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError

_YAML_SUFFIXES = (".yaml", ".yml")


def detect_format(text: str, path: str) -> str:
    """yaml | cmdline: YAML suffixes are YAML; anything else is a command line unless it parses as a
    YAML mapping with known keys."""
    if path.endswith(_YAML_SUFFIXES):
        return "yaml"
    return "cmdline"


def read_text(text: str, source: str) -> list[Deployment]:
    if detect_format(text, source) == "cmdline":
        deps = cmdline.read(text, source)
        if not deps:
            raise ManifestError(f"{source}: no vLLM, SGLang, TGI or TensorRT-LLM command found")
        return deps
    out: list[Deployment] = []
    for doc in load_documents(text, source):
        if k8s.is_k8s(doc):
            out += k8s.read(doc, source)
        elif compose.is_compose(doc):
            out += compose.read(doc, source)
        elif jobfile.is_job(doc):
            out += jobfile.read(doc, source)
        else:
            line = doc.line_of(())
            raise ManifestError(f"{source}:{line}: not a job.yaml, Kubernetes object or compose file")
    if not out:
        raise ManifestError(f"{source}: no deployment running vLLM, SGLang, TGI or TensorRT-LLM found")
    return out


def read(path: str | Path) -> list[Deployment]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{p}: not a text file") from None
    return read_text(text, str(p))
