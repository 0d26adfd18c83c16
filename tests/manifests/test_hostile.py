"""Hostile and mistyped manifests (issue 15, items 2-5, for manifests): YAML bombs, typos and command-line values
the engine would refuse end as one line naming file:line and exit 3, never a traceback; every deployment has an
identity unique per file and line, so findings land on the right one in text and SARIF, and text output stays
linear in the number of deployments. (The generic hostile-input suite is tests/hostile/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.cli import main
from tpdoctor.probes.replay import example_path

EXAMPLE = example_path()
BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n")
K8S_POD = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  replicas: {replicas}\n  template:\n"
           "    spec:\n      containers:\n      - image: vllm/vllm-openai\n        args: [--model, m, -tp, '2']\n"
           "        resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}\n")
COMPOSE = ("services:\n  llm:\n    image: vllm/vllm-openai\n    command: --model m -tp 2\n    deploy:\n"
           "      resources:\n        reservations:\n          devices:\n            - {count: \"two\"}\n")

# (file name, text, the line the message must name, words it must hold)
CASES = [
    ("bomb.yaml", BOMB, None, "alias"),
    ("loop.yaml", "a: &a\n  b: *a\n", None, "recursive YAML alias"),
    ("job.yaml", "model: llama-3.1-8b\ntp: 0\n", 2, "tp must be a positive integer"),
    ("job.yaml", "model: llama-3.1-8b\ntp: 2\ngpus: [0, 0]\n", 3, "names GPU 0 twice"),
    ("job.yaml", "model: llama-3.1-8b\nreplicas: many\n", 2, "replicas must be a positive integer"),
    ("compose.yaml", COMPOSE, 9, "'two' is not a GPU count"),
    ("k8s.yaml", K8S_POD.format(replicas="many", gpus=2), 5, "replicas 'many' is not a count"),
    ("k8s.yaml", K8S_POD.format(replicas=1, gpus='"two"'), 11, "'two' is not a GPU count"),
    ("run.sh", "vllm serve m --tensor-parallel-size 0\n", 1, "not a positive integer"),
    ("run.sh", "vllm serve m \\\n  -tp -2\n", 2, "'-2': not a positive integer"),
    ("run.sh", "vllm serve m --tensor-parallel-size abc\n", 1, "'abc': not a positive integer"),
    ("run.sh", "vllm serve m -tp " + "9" * 5000 + "\n", 1, "not a positive integer"),
    ("run.sh", "text-generation-launcher --model-id m --num-shard abc\n", 1, "--num-shard 'abc'"),
    ("run.sh", "python -m sglang.launch_server --model-path m --mem-fraction-static 90\n", 1, "a fraction in (0, 1]"),
    ("job.yaml", "model: m\ntp: " + "9" * 5000 + "\n", 2, "far too large"),
]


@pytest.mark.parametrize("name,text,line,words", CASES, ids=[f"{c[0]}:{c[3][:24]}" for c in CASES])
def test_refused_in_one_line_with_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str,
                                         line: int | None, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["check-deployment", str(path), "--topology", str(EXAMPLE)]) == 3
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert "Traceback" not in err and first.startswith("tpdoctor: error: "), err
    assert words in first, first
    assert str(path) in first and (line is None or f"{path}:{line}:" in first), first


def two_unnamed(tmp_path: Path, copies: int = 1) -> Path:
    """Two command lines for the same model, no names: one on the broken NVLink pair, one on the healthy one."""
    path = tmp_path / "run.sh"
    lines = ["CUDA_VISIBLE_DEVICES=0,1 vllm serve qwen35-27b --max-model-len 8192 -tp 2",
             "CUDA_VISIBLE_DEVICES=2,3 vllm serve qwen35-27b --max-model-len 8192 -tp 2"] * copies
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_unnamed_command_lines_are_two_deployments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = two_unnamed(tmp_path)
    main(["check-deployment", str(path), "--topology", str(EXAMPLE), "--json"])
    deps = json.loads(capsys.readouterr().out)["deployments"]
    assert [d["id"] for d in deps] == [f"qwen35-27b ({path}:1)", f"qwen35-27b ({path}:2)"]
    assert [d["key"] for d in deps] == [f"{path}:1", f"{path}:2"]


def test_sarif_puts_each_finding_on_its_own_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = two_unnamed(tmp_path)
    main(["check-deployment", str(path), "--topology", str(EXAMPLE), "--format", "sarif"])
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    lines = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    assert ("TPD200", 1) in lines and ("TPD200", 2) not in lines
    fingerprints = [r["partialFingerprints"]["tpdoctor/v1"] for r in results]
    assert len(fingerprints) == len(set(fingerprints))


def test_text_lists_the_critical_under_the_broken_deployment(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    path = two_unnamed(tmp_path)
    main(["check-deployment", str(path), "--topology", str(EXAMPLE)])
    out = capsys.readouterr().out
    broken, healthy = out.split(f"qwen35-27b ({path}:2)")
    assert "TPD200" in broken and "TPD200" not in healthy


def test_text_output_is_linear_in_deployments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sizes = []
    for copies in (4, 32):
        main(["check-deployment", str(two_unnamed(tmp_path, copies)), "--topology", str(EXAMPLE)])
        sizes.append(len(capsys.readouterr().out.splitlines()))
    per_deployment = sizes[0] / 8
    assert sizes[1] <= per_deployment * 64 * 1.2, sizes  # 8× the deployments, about 8× the lines (not 64×)
