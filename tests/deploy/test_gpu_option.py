"""`check-deployment --gpu SKU`: a raw `nvidia-smi topo -m` names no GPU, so memory and cost could not be judged;
naming the SKU (as `predict --gpu` does) lets every memory rule judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOPO_M = ROOT / "fixtures" / "smi" / "topo-m" / "004-aws-p5-h100x8-nv18.txt"
JOB = ("deployments:\n  - {name: l405, model: llama-3.1-405b, dtype: bf16, tp: 8, gpus: [0,1,2,3,4,5,6,7], "
       "max_model_len: 8192}\n")


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    code = main(["check-deployment", str(job), "--topology", str(TOPO_M), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_without_gpu_the_memory_rules_could_not_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, data = run(tmp_path, capsys)
    (dep,) = data["deployments"]
    assert dep["fits"] is None and "give --gpu SKU" in dep["unknown"]["fits"]
    assert any(f["rule"] == "TPD205" and "could not judge" in f["message"] for f in data["findings"])


def test_with_gpu_the_memory_rules_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run(tmp_path, capsys, "--gpu", "h100-sxm")
    (dep,) = data["deployments"]
    assert dep["gpu_sku"] == "h100-sxm" and dep["fits"] is False  # 756 GiB of bf16 weights over 8 × 80 GB
    assert code == 2 and any(f["rule"] == "TPD205" and f["severity"] == "critical" for f in data["findings"])


def test_an_unknown_sku_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    assert main(["check-deployment", str(job), "--topology", str(TOPO_M), "--gpu", "voodoo-5"]) == 3
    assert "--gpu 'voodoo-5' is not in data/gpus.yaml" in capsys.readouterr().err
