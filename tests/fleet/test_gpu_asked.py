"""A file that asks its scheduler for a GPU model is placed only on nodes with that model
(`check-deployment --fleet`), and said to have no room when the fleet has none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
TASK = """name: {name}
resources:
  accelerators: {asked}
run: |
  vllm serve meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 2 --max-model-len 8192
"""


def fleet(tmp_path: Path) -> Path:
    """The five-node fleet with gpu-c's GPUs made H200s."""
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "fixtures" / "fleet" / "reports", reports)
    path = reports / "gpu-c.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for g in data["gpus"]:
        g["name"], g["memory_mib"] = "NVIDIA H200", 143771
    path.write_text(json.dumps(data), encoding="utf-8")
    return reports


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, asked: str) -> dict[str, object]:
    job = tmp_path / f"{name}.yaml"
    job.write_text(TASK.format(name=name, asked=asked), encoding="utf-8")
    main(["check-deployment", str(job), "--fleet", str(fleet(tmp_path)), "--json", "--json-detail", "full"])
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_placed_on_the_node_with_the_gpu_it_asks_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = check(tmp_path, capsys, "on-h200", "H200:2")
    (p,) = out["placements"]  # type: ignore[misc]
    assert p["how"] == "placed" and p["stages"][0]["host"] == "gpu-c", p
    assert "TPD217" not in {f["rule"] for f in out["findings"]}  # type: ignore[attr-defined]


def test_no_node_with_the_gpu_it_asks_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = check(tmp_path, capsys, "on-l4", "{L4:2, T4:2}")
    (p,) = out["placements"]  # type: ignore[misc]
    assert p["how"] == "unplaced" and p["note"] == "no node of the fleet has the GPU on-l4 asks for (L4, T4)", p
