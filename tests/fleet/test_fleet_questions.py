"""`check-deployment --fleet` keeps the promise the single-node check makes (issue 22): OK only when every
critical question was answered. A model nobody knows is UNKNOWN with what answers it, answered by
--model-config, or accepted with --accept-unknown; a critical finding still wins over an open question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "fixtures" / "fleet" / "reports"
JOB = """deployments:
  - name: mystery
    engine: vllm
    model: {model}
    tp: 2
    node: gpu-a
    gpus: [0, 1]
"""


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str,
        model: str = "acme/secret-model-9b") -> tuple[int, dict[str, object]]:
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(model=model), encoding="utf-8")
    code = main(["check-deployment", str(job), "--fleet", str(REPORTS), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_an_unknown_model_leaves_the_fleet_check_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys)
    assert code == 3 and out["status"] == "unknown"
    asked = {q["question"]: q for q in out["questions"]}  # type: ignore[union-attr]
    assert set(asked) == {"starts", "tp_valid"} and "--model-config" in str(asked["starts"]["answer_with"])
    assert out["summary"]["questions_open"] == 2  # type: ignore[index]


def test_model_config_answers_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text((ROOT / "fixtures/models/llama-3.1-8b-config.json").read_text())
    code, out = run(tmp_path, capsys, "--model-config", str(model_dir))
    assert (code, out["status"], out["questions"]) == (0, "ok", [])


def test_accepting_the_questions_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, "--accept-unknown", "starts:CI smoke test",
                    "--accept-unknown", "tp_valid:CI smoke test")
    assert code == 0 and out["status"] == "ok"
    assert {q["accepted"] for q in out["questions"]} == {"CI smoke test"}  # type: ignore[union-attr]


def test_a_critical_finding_wins_over_an_open_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "two.yaml"
    job.write_text(JOB.format(model="acme/secret-model-9b") + "  - {name: fat, engine: vllm, "
                   "model: meta-llama/Llama-3.1-405B-Instruct, tp: 1, node: gpu-a, gpus: [2]}\n")
    code = main(["check-deployment", str(job), "--fleet", str(REPORTS)])
    text = capsys.readouterr().out
    assert code == 2 and "NOT ANSWERED 2 question(s) of 1 deployment(s)" in " ".join(text.split())
