"""GPU model names as schedulers write them (the values of the real manifests in fixtures/deployments/real)
against the product names nvidia-smi and NVML print (the captures in fixtures/smi)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tpdoctor.manifests import loader
from tpdoctor.model.errors import ManifestError
from tpdoctor.model.gpunames import GpuName, asked_here, parse, same_gpu

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "deployments" / "real"


@pytest.mark.parametrize("name,parsed", [
    # asked: SkyPilot, dstack, GPU feature discovery, GKE
    ("H100:8", GpuName("h100")), ("A100-80GB:8", GpuName("a100", 80)), ("A10g", GpuName("a10g")),
    ("A100 40GB", GpuName("a100", 40)), ("NVIDIA-A100-80GB-PCIe", GpuName("a100", 80)),
    ("nvidia-h100-80gb", GpuName("h100", 80)), ("nvidia-tesla-t4", GpuName("t4")), ("nvidia-l4", GpuName("l4")),
    ("A6000", GpuName("a6000")), ("RTX4090", GpuName("rtx4090")), ("RTXA6000", GpuName("a6000")),
    ("A100_PCIE_80GB", GpuName("a100", 80)),  # CoreWeave's gpu.nvidia.com/class
    # products
    ("NVIDIA H100 80GB HBM3", GpuName("h100", 80)), ("NVIDIA H100 NVL", GpuName("h100")),
    ("NVIDIA A100-SXM4-40GB", GpuName("a100", 40)), ("Tesla V100-SXM2-32GB-LS", GpuName("v100", 32)),
    ("NVIDIA GeForce RTX 4090", GpuName("rtx4090")), ("NVIDIA RTX A6000", GpuName("a6000")),
    ("NVIDIA RTX 6000 Ada Generation", GpuName("rtx6000")), ("NVIDIA GB200", GpuName("gb200")),
    ("NVIDIA L40S", GpuName("l40s")), ("NVIDIA H20", GpuName("h20")),
])
def test_names_reduce_to_family_and_written_memory(name: str, parsed: GpuName) -> None:
    assert parse(name) == parsed


@pytest.mark.parametrize("name", ["24GB..:2", "${GPU_TYPE}", "v5litepod-4", "NVIDIA TITAN V", ""])
def test_a_name_without_a_family_is_not_read(name: str) -> None:
    assert parse(name) is None


@pytest.mark.parametrize("asked,product,memory,same", [
    ("H100", "NVIDIA H100 NVL", 93.6, True),
    ("H200", "NVIDIA H100 80GB HBM3", 79.6, False),
    ("A100-80GB", "NVIDIA A100-SXM4-40GB", 40.0, False),  # the memory written decides between the two A100s
    ("A100-80GB", "NVIDIA A100-SXM4-80GB", 80.0, True),
    ("A100", "NVIDIA A100-SXM4-40GB", 40.0, True),
    ("nvidia-h100-80gb", "NVIDIA H100 80GB HBM3", 79.6, True),
    ("A100 40GB", "NVIDIA A100 80GB PCIe", None, False),
    ("H100 80GB", "NVIDIA H100", 79.6, True),  # the node's memory when its name writes none
    ("L40", "NVIDIA L40S", 44.4, False), ("A10", "NVIDIA A10G", 22.0, False),
    ("24GB..", "NVIDIA H100 80GB HBM3", 79.6, None), ("H100", "NVIDIA TITAN V", 12.0, None),
])
def test_same_gpu(asked: str, product: str, memory: float | None, same: bool | None) -> None:
    assert same_gpu(asked, product, memory) is same


def test_alternatives_any_of_which_will_do() -> None:
    assert asked_here(("H200", "H100", "A100-80GB"), "NVIDIA H100 NVL") is True
    assert asked_here(("L4", "T4"), "NVIDIA H100 NVL") is False
    assert asked_here(("L4", "${GPU}"), "NVIDIA H100 NVL") is None  # one alternative cannot be read
    assert asked_here((), "NVIDIA H100 NVL") is None and asked_here(("H100",), None) is None


@pytest.mark.parametrize("name,asked,line", [
    ("sky-deepseek-r1-sglang-2node.yaml", ("H200", "H100", "A100-80GB"), 4),  # SkyPilot, a set of options
    ("sky-gemma-anyof-l4-t4-k8s.yaml", ("L4", "T4"), 23),
    ("dstack-triton-trtllm-prebuilt-engine-s3.yml", ("A100 40GB",), 28),  # dstack `gpu: A100:40GB`
    ("dstack-tgi-num-shard-gpus-num.yml", ("H200",), 31),
    ("gke-lws-vllm-deepseek-r1-a3.yaml", ("nvidia-h100-80gb",), 32),  # GKE nodeSelector
    ("k8s-vllm-8b-t4-replicas2.yaml", ("nvidia-tesla-t4",), 33),
])
def test_real_files_say_what_gpu_they_ask_for(name: str, asked: tuple[str, ...], line: int) -> None:
    deployments = loader.read(REAL / name)
    assert deployments and {d.gpu_asked for d in deployments} == {asked}
    assert {d.origins["gpu_asked"].line for d in deployments} == {line}


POD = """apiVersion: v1
kind: Pod
metadata: {name: vllm}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - {key: nvidia.com/gpu.product, operator: In, values: [NVIDIA-H200, NVIDIA-H100-80GB-HBM3]}
          - matchExpressions:
              - {key: nvidia.com/gpu.product, operator: NotIn, values: [Tesla-T4]}
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.11.0
      args: [--model, meta-llama/Llama-3.1-8B-Instruct, --tensor-parallel-size, "2"]
      resources: {limits: {nvidia.com/gpu: 2}}
"""


def test_karpenters_gpu_name_label() -> None:
    spec, containers = POD.split("  affinity:\n", 1)[0], POD.split("  containers:\n", 1)[1]
    pod = spec + "  nodeSelector: {karpenter.k8s.aws/instance-gpu-name: l40s}\n  containers:\n" + containers
    (d,) = loader.read_text(pod, "pod.yaml")
    assert d.gpu_asked == ("l40s",) and asked_here(d.gpu_asked, "NVIDIA L40S", 44.4) is True


def test_a_required_node_affinity_on_the_gpu_product_label() -> None:
    (d,) = loader.read_text(POD, "pod.yaml")
    assert d.gpu_asked == ("NVIDIA-H200", "NVIDIA-H100-80GB-HBM3")  # In only: NotIn asks for nothing
    assert asked_here(d.gpu_asked, "NVIDIA H100 80GB HBM3", 79.6) is True
    assert asked_here(d.gpu_asked, "NVIDIA A100-SXM4-80GB", 80.0) is False


ASKS = REAL.parent / "gpu-asks"
NODES = {"H100": ("NVIDIA H100 80GB HBM3", 79.6), "A100_40": ("NVIDIA A100-SXM4-40GB", 40.0),
         "L4": ("NVIDIA L4", 22.5)}
EXPECTED = yaml.safe_load((ASKS / "expected.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gpu_asks_of_files_collected_after_the_rule(name: str) -> None:
    """fixtures/deployments/gpu-asks: 19 real files and the reading written before tpdoctor read them (its
    README gives the held-out score, 16/19, taken before the fixes this set then drove)."""
    want = EXPECTED[name]
    if "refused" in want:
        with pytest.raises(ManifestError, match=want["refused"]):
            loader.read(ASKS / name)
        return
    deployments = loader.read(ASKS / name)
    asked = tuple(dict.fromkeys(a for d in deployments for a in d.gpu_asked))
    assert list(asked) == want["gpu_asked"]
    for node, (product, memory) in NODES.items():
        assert asked_here(asked, product, memory) is want[node], node


def test_skypilot_alternatives_any_of_and_the_gpus_alias() -> None:
    task = ("resources:\n  any_of:\n    - {infra: aws, accelerators: H100:8}\n    - {infra: gcp, gpus: {H200: 8}}\n"
            "run: vllm serve meta-llama/Llama-3.1-8B-Instruct -tp 8\n")
    (d,) = loader.read_text(task, "sky.yaml")
    assert d.gpu_asked == ("H100", "H200") and d.gpu_count == 8 and d.origins["gpu_asked"].line == 3
    (d,) = loader.read_text(task.replace("{infra: gcp, gpus: {H200: 8}}", "{infra: gcp}"), "sky.yaml")
    assert d.gpu_asked == ()  # one alternative names no GPU: the file does not pin the model
