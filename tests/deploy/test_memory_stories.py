"""docs/check-deployment.md tells each engine's memory story on a real manifest; the lines it quotes are the
lines `--explain` prints today, each ending at the engine's own source line, and the verdicts are the engines'."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from tpdoctor.deploy.check import check
from tpdoctor.deploy.sentences import memory_advice
from tpdoctor.manifests import loader
from tpdoctor.probes import replay
from tpdoctor.report.catalogue import load_catalogue
from tpdoctor.report.deployment_text import render

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "fixtures" / "deployments" / "real"
DOC = (ROOT / "docs" / "check-deployment.md").read_text(encoding="utf-8")
H100, A100 = "h100-sxm-8.json", "a100-nvswitch-8.json"
STORIES = [  # (manifest, topology, engine, starts, lines quoted in the docs)
    ("giae-vllm-qwen3-32b-lora.yaml", H100, "vllm", False, [
        "KV = 71.7 GiB − weights 61.0 GiB − overhead 1.6 GiB = 9.1 GiB",
        "one 40,960-token sequence needs 10.0 GiB of KV per GPU and only 9.1 GiB is left",
        "vllm/v1/core/kv_cache_planning.py:65-86"]),
    ("kubeai-model-405b-fp8-a100.yaml", A100, "vllm", True, ["= 683,693 tokens", "128 asked"]),
    ("giae-sglang-qwen3-32b.yaml", H100, "sglang", True, [
        "mem_fraction_static 0.9 × free memory 79.1 GiB = 71.2 GiB", "KV pool = 71.2 GiB − weights 61.0 GiB = 10.2 GiB",
        "python/sglang/srt/mem_cache/kv_cache_configurator.py:3007-3058"]),
    ("tgi-readme-block5-gated-token.sh", H100, "tgi", True, [
        "2 × 32 layers / PP 1 × (8 KV heads // TP 8) × 128 × 2 B = 16.0 KiB",
        "KV = 71.7 GiB − weights 1.9 GiB − overhead 1.2 GiB = 68.7 GiB",
        "server/text_generation_server/models/flash_causal_lm.py:1547-1563"]),
    ("sh-trtllm-serve-r1-tp8-ep4.sh", H100, "trtllm", False, [
        "61 layers / PP 1 × (512+64) latent, not split by TP × 2 B = 68.6 KiB",
        "tensorrt_llm/_torch/pyexecutor/_util.py:94-112@d8ae02ca"]),
]


@pytest.mark.parametrize("name,topo,engine,starts,lines", STORIES, ids=[s[0] for s in STORIES])
def test_the_docs_quote_what_explain_prints(name: str, topo: str, engine: str, starts: bool,
                                            lines: list[str]) -> None:
    result = check(loader.read(REAL / name), replay.load(ROOT / "fixtures" / "topologies" / topo), load_catalogue())
    (a,) = result.assessments
    assert a.memory is not None and a.memory.engine == engine and a.memory.starts is starts
    out = StringIO()
    render(result, Console(file=out, width=400), explain=True)
    text = out.getvalue()
    assert name in DOC
    for line in lines:
        assert line in text, line
        assert line in " ".join(DOC.split()) or line in DOC, line



@pytest.mark.parametrize("engine", ["tgi", "vllm", "sglang", "trtllm"])
@pytest.mark.parametrize("tp", [1, 2, 16])
def test_memory_advice_names_what_would_start_it(engine: str, tp: int) -> None:
    """The advice of a deployment that will not start names a change that would start it: never "a max
    length of at most 0 tokens" nor "more GPU memory per GPU" when TP itself is the cause (TGI asserts when
    --num-shard leaves a shard no KV head: 8 KV heads // 16 = 0)."""
    text = (f"deployments:\n  - {{name: big, engine: {engine}, model: meta-llama/Llama-3.1-70B-Instruct, "
            f"tp: {tp}, max_model_len: 8192}}\n")
    result = check(loader.read_text(text, "job.yaml"),
                   replay.load(ROOT / "fixtures" / "topologies" / H100), load_catalogue())
    (a,) = result.assessments
    assert a.memory is not None
    if a.memory.starts:
        return
    said = memory_advice(a)
    assert "at most 0 tokens" not in said, said
    if engine == "tgi" and tp == 16:
        assert said.startswith("a TP size of at most 8 (the model's KV heads)"), said
    elif tp == 1:
        assert " GPUs of this kind (TP=" in said and "fp8 or int4 weights" in said, said  # bf16: 131 GiB
