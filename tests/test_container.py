"""The container image the Kubernetes examples use: a static check of the Dockerfile and the examples
(always), and a real build and smoke run where a Docker daemon answers (skipped with the reason elsewhere)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tpdoctor import __version__

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
IMAGE = f"tpdoctor:{__version__}"


def stages() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    name = ""
    for line in DOCKERFILE.replace("\\\n", " ").splitlines():
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if m:
            name = m.group(2) or f"final<-{m.group(1)}"
            out[name] = []
        elif name and line.strip() and not line.lstrip().startswith("#"):
            out[name].append(line.strip())
    return out


def test_dockerfile_is_slim_by_default_with_a_bench_target() -> None:
    s = stages()
    assert {"build", "slim", "bench"} <= set(s)
    assert list(s)[-1] == "final<-slim"  # `docker build .` gives the slim image
    assert not any("torch" in line for line in s["slim"] + s["build"])  # no torch by default
    assert any("torch" in line for line in s["bench"])
    assert 'ENTRYPOINT ["tpdoctor"]' in s["slim"]
    assert re.search(r"FROM python:\$\{PYTHON_VERSION\}-slim", DOCKERFILE)
    for line in s["build"]:
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"tpdoctor", "rules", "schemas", "LICENSE"} & set(ignored)


def test_kubernetes_examples_use_this_image() -> None:
    images = []
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            text = yaml.safe_dump(doc)
            images += [(path.name, m) for m in re.findall(r"image: (tpdoctor\S*)", text)]
    assert images and all(image in (IMAGE, f"{IMAGE}-bench") for _, image in images), images
    assert "docker build -t tpdoctor:0.1.0 ." in DOCKERFILE and IMAGE == "tpdoctor:0.1.0"


def _docker() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on PATH"
    try:
        info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    return None if info.returncode == 0 else f"no Docker daemon: {' '.join(info.stderr.split())[:160]}"


def test_image_builds_and_runs_the_demo() -> None:
    why = _docker()
    if why is not None:
        pytest.skip(why)
    tag = "tpdoctor:test-build"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=900, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", tag], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "h100nvl-gpu01-nvlink-down" in run.stdout, run.stderr
    torch = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", tag, "-c", "import torch"],
                           capture_output=True, text=True, timeout=120)
    assert torch.returncode != 0  # slim: no torch
