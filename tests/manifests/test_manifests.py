"""Manifest readers: each kind has a fixture (fixtures/deployments/) and lands in one Deployment shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.manifests import loader
from tpdoctor.model.errors import ManifestError

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "deployments"


def one(name: str):  # type: ignore[no-untyped-def]
    deps = loader.read(FIX / name)
    assert len(deps) == 1, deps
    return deps[0]


def test_job_yaml() -> None:
    d = one("canonical-job.yaml")
    assert (d.kind, d.engine, d.model, d.dtype, d.tp, d.gpus) == ("job", "vllm", "qwen35-27b", "fp8", 2, (0, 1))
    assert (d.max_model_len, d.max_num_seqs, d.latency_objective_ms) == (16384, 8, None)
    assert d.origin("tp").line == 7 and d.origin("gpus").line == 8


def test_job_yaml_many_and_objective(tmp_path: Path) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("deployments:\n  - {name: a, model: llama-3.1-8b, tp: 1, gpus: [0]}\n"
                 "  - {name: b, model: llama-3.1-8b, engine: sglang, tp: 2, gpus: '1,2', latency_objective_ms: 20}\n")
    a, b = loader.read(p)
    assert (a.name, a.tp, a.gpus) == ("a", 1, (0,))
    assert (b.engine, b.gpus, b.latency_objective_ms) == ("sglang", (1, 2), 20)


def test_k8s_pod_vllm_serve_args() -> None:
    d = one("canonical-pod.yaml")
    assert (d.kind, d.engine, d.model, d.tp, d.gpus, d.gpu_count) == ("Pod", "vllm", "/models/qwen35-27b-fp8", 2,
                                                                     (0, 1), 2)
    # CUDA_VISIBLE_DEVICES=0,1 in a pod that requests nvidia.com/gpu: 2 picks among the GPUs the device plugin
    # hands out (container indices), never host GPU0 and GPU1
    assert (d.placement, d.gpu_scope, d.host_gpus, d.runtime) == ("scheduler", "container", None, "kubernetes")
    assert d.max_num_seqs == 8  # --max-num-seqs=8 form
    assert d.origin("gpus").line == 22 and d.origin("tp").line == 15


def test_k8s_deployment_image_entrypoint_and_nvidia_visible_devices() -> None:
    # NVIDIA_VISIBLE_DEVICES in a pod that requests nvidia.com/gpu is replaced by the device plugin's choice:
    # the pod gets 4 GPUs the scheduler picks, never host GPUs 0-3
    d = one("llama70b-deployment.yaml")
    assert (d.kind, d.engine, d.tp, d.dtype, d.gpus, d.gpu_count) == ("Deployment", "vllm", 4, "bfloat16", None, 4)
    assert (d.placement, d.runtime) == ("scheduler", "kubernetes")


def test_k8s_statefulset_shell_string_sglang() -> None:
    d = one("sglang-statefulset.yaml")
    assert (d.kind, d.engine, d.model, d.tp, d.max_model_len) == ("StatefulSet", "sglang", "Qwen/Qwen3-32B", 3, 8192)
    o = d.origin("tp")
    assert o.fmt == "flag" and o.text == "--tp 3" and o.line == 20


def test_leaderworkerset_spans_nodes() -> None:
    d = one("lws-multinode.yaml")
    assert (d.kind, d.tp, d.nodes, d.gpu_count, d.gpus) == ("LeaderWorkerSet", 16, 2, 8, None)
    assert d.gpus_needed == 8


def test_compose_device_ids_and_tgi() -> None:
    d = one("compose.yaml")
    # TGI's --max-total-tokens is the longest request (input + output), kept as TGI's own knob
    assert (d.kind, d.engine, d.model, d.tp, d.gpus, d.max_total_tokens) == ("compose", "tgi",
                                                                            "Qwen/Qwen2.5-7B-Instruct", 2, (0, 1), 8192)


@pytest.mark.parametrize("name,engine,tp", [("vllm.sh", "vllm", 2), ("sglang.sh", "sglang", 2),
                                            ("tgi.sh", "tgi", 2), ("trtllm.sh", "trtllm", 2)])
def test_command_lines(name: str, engine: str, tp: int) -> None:
    d = one(name)
    assert (d.kind, d.engine, d.tp, d.gpus) == ("cmdline", engine, tp, (0, 1))


def test_vllm_continuation_lines_keep_exact_lines() -> None:
    d = one("vllm.sh")
    assert d.name == "qwen35-27b"  # from the `# tpdoctor: name=` directive
    assert d.origin("tp").line == 4 and d.origin("max_num_seqs").line == 5


@pytest.mark.parametrize("cmd,expect", [
    ("python -m vllm.entrypoints.openai.api_server --model m --tensor-parallel-size=4 --foo bar",
     {"engine": "vllm", "model": "m", "tp": 4}),
    ("vllm serve m -tp 8 -pp 2 --weird-flag --quantization awq", {"engine": "vllm", "tp": 8, "pp": 2,
                                                                  "dtype": "awq"}),
    ("text-generation-launcher --model-id m --num-shard 4 --quantize gptq", {"engine": "tgi", "tp": 4}),
    ("trtllm-serve m --tp_size 4 --pp_size 2", {"engine": "trtllm", "tp": 4, "pp": 2}),
    ("python3 -m sglang.launch_server --model-path m --tp-size 2 --dp 2", {"engine": "sglang", "tp": 2,
                                                                          "replicas": 2, "dp": 2}),
])
def test_engine_flags(cmd: str, expect: dict) -> None:  # type: ignore[type-arg]
    (d,) = loader.read_text(cmd + "\n", "run.sh")
    for k, v in expect.items():
        assert getattr(d, k) == v, k


def test_not_an_engine_command_line(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("echo hello\n")
    with pytest.raises(ManifestError, match="no vLLM, SGLang, TGI or TensorRT-LLM command"):
        loader.read(p)


def test_malformed_yaml_is_one_error_with_its_line() -> None:
    with pytest.raises(ManifestError, match=r"malformed\.yaml:5: malformed YAML"):
        loader.read(FIX / "malformed.yaml")


def test_job_unknown_key_names_its_line(tmp_path: Path) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("deployments:\n  - name: a\n    model: llama-3.1-8b\n    tensor_parallel: 2\n")
    with pytest.raises(ManifestError, match=r"job\.yaml:4: unknown key 'tensor_parallel'"):
        loader.read(p)


def test_bad_values_are_manifest_errors(tmp_path: Path) -> None:
    p = tmp_path / "job.yaml"
    p.write_text("model: llama-3.1-8b\ntp: two\n")
    with pytest.raises(ManifestError, match=r":2: tp must be a positive integer"):
        loader.read(p)
    p.write_text("kind: Nothing\nfoo: 1\n")
    with pytest.raises(ManifestError, match="not a job.yaml, Kubernetes object, compose file"):
        loader.read(p)


def test_k8s_without_engine_containers_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "svc.yaml"
    p.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n")
    with pytest.raises(ManifestError, match="no deployment running"):
        loader.read(p)


def test_multi_document_k8s(tmp_path: Path) -> None:
    text = (FIX / "canonical-pod.yaml").read_text() + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n" \
        "---\n" + (FIX / "llama70b-deployment.yaml").read_text()
    p = tmp_path / "all.yaml"
    p.write_text(text)
    names = [d.name for d in loader.read(p)]
    assert names == ["qwen35-27b", "llama-70b"]
