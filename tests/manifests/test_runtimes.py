"""Placement semantics of each runtime (manifests/placement.py), vendors, and the formats issue 22 added:
whose indices a GPU list holds (host or container), who picks the GPUs (the file, the engine, a scheduler),
which launches can run at the same time, and what is refused as not an NVIDIA job."""

from __future__ import annotations

import pytest

from tpdoctor.manifests import loader
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError, NotADeployment


def read(text: str, name: str) -> list[Deployment]:
    return loader.read_text(text, name)


def one(text: str, name: str) -> Deployment:
    (d,) = read(text, name)
    return d


POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.11.0
      args: ["--model", "/models/qwen35-27b-fp8", "--tensor-parallel-size", "2"]
      env: [{env}]
      resources: {{limits: {{nvidia.com/gpu: 2}}}}
"""


def test_pod_gpus_are_the_schedulers_and_its_cvd_is_container_indices() -> None:
    d = one(POD.format(name="a", env='{name: CUDA_VISIBLE_DEVICES, value: "0,1"}'), "pod.yaml")
    assert (d.placement, d.gpu_scope, d.gpus, d.host_gpus, d.gpu_count) == ("scheduler", "container", (0, 1), None, 2)


def test_docker_gpus_all_ignores_the_hosts_exported_cvd() -> None:
    # the variable stays on the host: TGI inside shards over every GPU the container sees (all of them)
    d = one("export CUDA_VISIBLE_DEVICES=0\ndocker run --gpus all ghcr.io/huggingface/text-generation-inference:3.0 "
            "--model-id Qwen/Qwen2.5-7B-Instruct\n", "run.sh")
    assert (d.placement, d.gpus, d.runtime, d.shards_from_visible_gpus) == ("all", None, "docker", True)
    e = one("docker run --gpus all -e CUDA_VISIBLE_DEVICES=3 vllm/vllm-openai:v0.11.0 --model m\n", "run.sh")
    assert (e.placement, e.gpus, e.gpu_scope) == ("pinned", (3,), "host")  # -e reaches it; --gpus all: same numbers


@pytest.mark.parametrize(("spec", "gpus"), [("2", (0, 1)), ('\'"device=2,3"\'', (2, 3))])
def test_docker_gpus_count_and_devices(spec: str, gpus: tuple[int, ...]) -> None:
    d = one(f"docker run --gpus {spec} vllm/vllm-openai:v0.11.0 --model m --tensor-parallel-size 2\n", "run.sh")
    assert (d.placement, d.gpus, d.gpu_scope) == ("pinned", gpus, "host")  # moby countToDevices: GPUs 0…N-1


COMPOSE = """services:
  {name}:
    image: vllm/vllm-openai:v0.11.0
    {extra}
    command: --model m --tensor-parallel-size {tp}
    deploy: {{resources: {{reservations: {{devices: [{{driver: nvidia, {devices}, capabilities: [gpu]}}]}}}}}}
"""


def test_compose_device_ids_and_container_cvd_map_to_host_gpus() -> None:
    d = one(COMPOSE.format(name="s", extra="environment: [CUDA_VISIBLE_DEVICES=1]", tp=1,
                           devices='device_ids: ["2", "3"]'), "compose.yaml")
    assert (d.gpus, d.gpu_scope) == ((3,), "host")  # container GPU1 of host GPUs 2,3 is host GPU3
    c = one(COMPOSE.format(name="s", extra="", tp=2, devices="count: 2"), "compose.yaml")
    assert (c.placement, c.gpus) == ("pinned", (0, 1))
    a = one(COMPOSE.format(name="s", extra="", tp=2, devices="count: all"), "compose.yaml")
    assert (a.placement, a.gpus) == ("all", None)


def test_compose_profiles_are_read() -> None:
    text = COMPOSE.format(name="small", extra="profiles: [small]", tp=2, devices='device_ids: ["0", "1"]') + \
        COMPOSE.format(name="big", extra="profiles: [big]", tp=2, devices='device_ids: ["0", "1"]').split("\n", 1)[1]
    a, b = read(text, "compose.yaml")
    assert (a.profiles, b.profiles) == (("small",), ("big",))


def test_foreground_launches_of_one_script_run_one_after_another() -> None:
    seq = read("vllm serve m -tp 2\nvllm serve m -tp 2 --max-model-len 4096\n", "run.sh")
    assert [d.step[1:] for d in seq if d.step] == [(0, True), (1, True)]
    bg = read("vllm serve m -tp 2 &\ndocker run -d --gpus all vllm/vllm-openai:v0.11.0 --model m\nvllm serve m\n",
              "run.sh")
    assert [d.step[2] for d in bg if d.step] == [False, False, True]  # `&` and `docker run -d` do not wait


@pytest.mark.parametrize(("text", "name", "what"), [
    ("docker run --device /dev/kfd --device /dev/dri vllm/vllm-openai:v0.11.0 --model m -tp 2\n", "run.sh",
     "AMD ROCm"),
    ("HIP_VISIBLE_DEVICES=0,1 vllm serve m --tensor-parallel-size 2\n", "run.sh", "AMD ROCm"),
    ("docker run rocm/vllm:latest vllm serve m -tp 2\n", "run.sh", "AMD ROCm"),
    ("export SGLANG_USE_AITER=1\npython -m sglang.launch_server --model-path m --tp 2\n", "run.sh", "AMD ROCm"),
    ("AITER_JIT_DIR=/tmp/aiter vllm serve m -tp 2\n", "run.sh", "AMD ROCm"),
    (POD.format(name="a", env="").replace("nvidia.com/gpu", "amd.com/gpu"), "pod.yaml", "AMD"),
    (POD.format(name="a", env="").replace("nvidia.com/gpu", "habana.ai/gaudi"), "pod.yaml", "Gaudi"),
    ("type: service\ncommands: [vllm serve m --tensor-parallel-size 2]\nresources: {gpu: MI300X:2}\n",
     "svc.dstack.yml", "AMD ROCm"),
])
def test_other_vendors_are_refused_by_their_devices_variables_and_images(text: str, name: str, what: str) -> None:
    with pytest.raises(NotADeployment, match=f"{what}.*not an NVIDIA GPU job"):
        read(text, name)


@pytest.mark.parametrize("var", ["MAX_WAITERS", "WAITER_COUNT", "BAITER"])
def test_a_variable_that_only_contains_aiter_is_no_amd_job(var: str) -> None:
    d = one(f"export {var}=4\nvllm serve m --tensor-parallel-size 2\n", "run.sh")  # was "an AMD ROCm job"
    assert (d.engine, d.tp) == ("vllm", 2)


def test_dstack_service_reads_its_commands_env_and_gpus() -> None:
    d = one("type: service\nname: llama31\nenv:\n  - HF_TOKEN\n  - MODEL_ID=meta-llama/Meta-Llama-3.1-8B-Instruct\n"
            "commands:\n  - pip install vllm\n  - vllm serve $MODEL_ID --tensor-parallel-size $DSTACK_GPUS_NUM\n"
            "port: 8000\nresources:\n  gpu: 24GB:2\n", "svc.dstack.yml")
    assert (d.engine, d.model, d.tp, d.gpu_count, d.placement, d.runtime) == (
        "vllm", "meta-llama/Meta-Llama-3.1-8B-Instruct", 2, 2, "scheduler", "dstack")


def test_engine_recognised_by_its_flags_behind_a_custom_image() -> None:
    d = one("docker run --gpus all myorg/llm-server:1.2 --model-id Qwen/Qwen2.5-7B-Instruct --num-shard 2\n",
            "run.sh")
    assert (d.engine, d.tp, d.model) == ("tgi", 2, "Qwen/Qwen2.5-7B-Instruct")


def test_slurm_variables_from_sbatch_directives() -> None:
    d = one("#!/bin/bash\n#SBATCH --nodes=1\n#SBATCH --gpus-per-node=4\nTP=$((SLURM_GPUS_ON_NODE * SLURM_NNODES))\n"
            "srun vllm serve m --tensor-parallel-size $TP\n", "job.sbatch")
    assert (d.tp, d.gpu_count, d.placement, d.runtime, d.unknown) == (4, 4, "scheduler", "slurm", {})


def test_ray_cluster_started_in_the_same_file_is_counted() -> None:
    d = one("ray start --head --num-gpus 1\nray start --address head:6379 --num-gpus 1\n"
            "vllm serve m --pipeline-parallel-size 2 --distributed-executor-backend ray\n", "run.sh")
    assert (d.nodes, d.gpu_count, d.gpus_needed, d.runtime) == (2, 1, 1, "ray")


def test_custom_resource_walked_to_any_depth() -> None:
    text = "apiVersion: orchestration.aibrix.ai/v1alpha1\nkind: RayClusterFleet\nmetadata: {name: f}\nspec:\n" \
           "  template:\n    spec:\n      rayClusterSpec:\n        headGroupSpec:\n          template:\n" \
           "            spec:\n              containers:\n                - name: head\n" \
           "                  image: vllm/vllm-openai:v0.11.0\n" \
           "                  command: [sh, -c, vllm serve m --tensor-parallel-size 2]\n" \
           "                  resources: {limits: {nvidia.com/gpu: 2}}\n"
    d = one(text, "fleet.yaml")
    assert (d.kind, d.tp, d.gpu_count) == ("RayClusterFleet", 2, 2)


def test_prebuilt_tensorrt_llm_engine_tp_is_unknown() -> None:
    d = one("trtllm-serve /engines/llama-70b-tp4 --tokenizer meta-llama/Llama-3.1-70B-Instruct\n", "run.sh")
    assert "tp" in d.unknown and "prebuilt TensorRT-LLM engine" in d.unknown["tp"]


def test_jobfile_node_list_is_a_clear_error() -> None:
    with pytest.raises(ManifestError, match="node must be one host name"):
        read("deployments:\n  - {name: a, model: m, tp: 2, gpus: [0, 1], node: [gpu01, gpu02]}\n", "job.yaml")


def test_powershell_param_defaults_and_backticks() -> None:
    d = one('param(\n    [string]$Model = "TinyLlama/TinyLlama-1.1B-Chat-v1.0",\n    [int]$Len = 2048\n)\n'
            "docker run -d --gpus all `\n    vllm/vllm-openai:latest `\n    --model $Model --max-model-len $Len\n",
            "run.ps1")
    assert (d.model, d.max_model_len, d.placement) == ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", 2048, "all")


def test_non_deployments_are_not_a_deployment() -> None:
    with pytest.raises(NotADeployment):
        read("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n", "svc.yaml")
    with pytest.raises(NotADeployment, match="Helm template with no engine"):
        read("apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}}\n", "svc.yaml")
    with pytest.raises(ManifestError) as exc:  # a template that runs an engine may be a deployment: not read
        read("args: [vllm, serve, {{ .Values.model }}]\n", "dep.yaml")
    assert not isinstance(exc.value, NotADeployment)
