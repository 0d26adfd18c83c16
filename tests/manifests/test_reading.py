"""Reading deployments as people write them: every flag spelling each engine's parser accepts (and the ones it
rejects), settings by indirection, launch forms, YAML merge keys, custom resources and what is not a GPU job."""

from __future__ import annotations

import pytest

from tpdoctor.manifests import loader
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError


def one(text: str, name: str = "run.sh") -> Deployment:
    (d,) = loader.read_text(text, name)
    return d


# (command line, field, value): spellings from each parser (data/engine_flags.yaml, research in the docstrings)
SPELLINGS = [
    ("vllm serve m --tensor-parallel-size 4", "tp", 4), ("vllm serve m --tensor_parallel_size 4", "tp", 4),
    ("vllm serve m --tensor-parallel-size=4", "tp", 4), ("vllm serve m --tensor_parallel_size=4", "tp", 4),
    ("vllm serve m -tp 4", "tp", 4), ("vllm serve m -tp=4", "tp", 4), ("vllm serve m --tensor-parallel 4", "tp", 4),
    ("vllm serve m --pipeline_parallel_size 2", "pp", 2), ("vllm serve m -pp 2", "pp", 2),
    ("vllm serve m --pipeline-parallel-size=2", "pp", 2), ("vllm serve m -dp 2", "dp", 2),
    ("vllm serve m --data_parallel_size 2", "dp", 2), ("vllm serve m -ep", "ep", True),
    ("vllm serve m --enable-expert-parallel", "ep", True), ("vllm serve m --max-num-seq 64", "max_num_seqs", 64),
    ("vllm serve m --max_model_len 32k", "max_model_len", 32000), ("vllm serve m --max-model-len 32K", "max_model_len",
                                                                   32768),
    ("vllm serve m --gpu-mem 0.8", "gpu_memory_utilization", 0.8), ("vllm serve m -q awq", "dtype", "awq"),
    ("vllm serve m --kv-cache-memory-bytes 20G", "kv_cache_memory_bytes", 20 << 30),  # G = 2^30, g = 10^9
    ("vllm serve --model m2 -tp 2", "model", "m2"), ("vllm serve m1 --model m2", "model", "m1"),
    ("python -m sglang.launch_server --model-path m --tp-size 4", "tp", 4),
    ("python -m sglang.launch_server --model-path m --tp 4", "tp", 4),
    ("python -m sglang.launch_server --model m --tensor-parallel-size 4", "tp", 4),
    ("python -m sglang.launch_server --model-path m --dp 2 --tp 2", "dp", 2),
    ("python -m sglang.launch_server --model-path m --ep 8 --tp 8", "ep", 8),
    ("python -m sglang.launch_server --model-path m --mem-frac 0.7", "mem_fraction_static", 0.7),
    ("python -m sglang.launch_server --model-path m --context-length 8k", "max_model_len", 8000),
    ("python -m sglang.launch_server --model-path m --pp-size 2", "pp", 2),
    ("sglang serve m --tp 2", "model", "m"),
    ("text-generation-launcher --model-id m --num-shard 4", "tp", 4),
    ("text-generation-launcher --model-id m --num-shard=4", "tp", 4),
    ("text-generation-launcher --model-id m --sharded false", "tp", 1),
    ("NUM_SHARD=2 text-generation-launcher --model-id m", "tp", 2),
    ("NUM_SHARD=2 text-generation-launcher --model-id m --num-shard 4", "tp", 4),  # clap: CLI over env
    ("trtllm-serve m --tp_size 8 --ep_size 4", "ep", 4), ("trtllm-serve serve m --tp_size=8", "tp", 8),
    ("trtllm-serve m --max_seq_len 4096 --max_batch_size 16", "max_num_seqs", 16),
]


@pytest.mark.parametrize("cmd,field,value", SPELLINGS, ids=[c for c, _, _ in SPELLINGS])
def test_every_spelling_the_engine_accepts(cmd: str, field: str, value: object) -> None:
    assert getattr(one(cmd + "\n"), field) == value


@pytest.mark.parametrize("cmd,why", [
    ("python -m sglang.launch_server --model-path m --tp_size 4", "SGLang accepts only --tp-size"),
    ("text-generation-launcher --model-id m --num_shard 2", "accepts only --num-shard"),
    ("trtllm-serve m --tp-size 2", "trtllm-serve accepts only --tp_size"),
])
def test_spellings_the_engine_rejects_are_refused(cmd: str, why: str) -> None:
    with pytest.raises(ManifestError, match=why):
        one(cmd + "\n")


def test_an_ambiguous_prefix_is_unknown_not_guessed() -> None:
    d = one("python -m sglang.launch_server --model-path m --pp 2\n")
    assert "pp" in d.unknown and "ambiguous" in d.unknown["pp"]


@pytest.mark.parametrize("text,field,value", [
    ("TP=4\nvllm serve m -tp $TP\n", "tp", 4),
    ("export TP=4\nvllm serve m -tp \"${TP}\"\n", "tp", 4),
    ("vllm serve m -tp ${TP:-2}\n", "tp", 2), ("vllm serve m -tp ${TP-2}\n", "tp", 2),
    ("A=2\nB=4\nvllm serve m -tp $(($A * $B))\n", "tp", 8),
    ("G=0,1\nCUDA_VISIBLE_DEVICES=$G vllm serve m -tp 2\n", "gpus", (0, 1)),
    ("export CUDA_VISIBLE_DEVICES=2,3\nvllm serve m -tp 2\n", "gpus", (2, 3)),
])
def test_settings_by_indirection(text: str, field: str, value: object) -> None:
    assert getattr(one(text), field) == value


def test_an_unset_variable_is_unknown_by_name_never_a_default() -> None:
    d = one("vllm serve $MODEL --tensor-parallel-size $TP_SIZE\n")
    assert d.unknown.keys() >= {"tp", "model"} and set(d.unresolved) == {"MODEL", "TP_SIZE"}
    assert "TP_SIZE" in d.unknown["tp"]


@pytest.mark.parametrize("text,engine,tp", [
    ("docker run --gpus all vllm/vllm-openai:latest --model m -tp 2\n", "vllm", 2),
    ("sudo docker run --gpus '\"device=0,1\"' ghcr.io/huggingface/text-generation-inference:2.0 --model-id m\n",
     "tgi", 2),
    ("docker run lmsysorg/sglang:latest python3 -m sglang.launch_server --model-path m --tp 2\n", "sglang", 2),
    ("srun --gres=gpu:4 vllm serve m -tp 4\n", "vllm", 4),
    ("nohup python -u -m vllm.entrypoints.openai.api_server --model m -tp 2 > log 2>&1 &\n", "vllm", 2),
    ("torchrun --nproc-per-node 2 -m sglang.launch_server --model-path m --tp 2\n", "sglang", 2),
    ("bash -c \"vllm serve m -tp 2\"\n", "vllm", 2),
    ("trtllm-llmapi-launch trtllm-serve m --tp_size 2\n", "trtllm", 2),
    ("python -m dynamo.vllm --model m --tensor-parallel-size 2\n", "vllm", 2),
])
def test_launch_forms(text: str, engine: str, tp: int) -> None:
    d = one(text)
    assert (d.engine, d.tp) == (engine, tp)


def test_docker_gpu_pinning_and_tgi_env() -> None:
    d = one("docker run --gpus '\"device=4,5\"' -e NUM_SHARD=2 -e MAX_TOTAL_TOKENS=4096 "
            "ghcr.io/huggingface/text-generation-inference:3.0 --model-id m\n")
    assert (d.gpus, d.tp, d.max_total_tokens) == ((4, 5), 2, 4096)


def test_a_build_step_is_not_a_deployment() -> None:
    with pytest.raises(ManifestError, match="build step"):
        one("python convert_checkpoint.py --model_dir m --tp_size 4\ntrtllm-build --checkpoint_dir c\n")


def test_compose_merge_keys_carry_the_gpu_pinning() -> None:
    """Synthetic (the corpus has no anchor): the GPUs behind `<<: *gpu` are read, not dropped."""
    text = ("x-gpu: &gpu\n  deploy:\n    resources:\n      reservations:\n        devices:\n"
            "          - {driver: nvidia, device_ids: ['0', '1'], capabilities: [gpu]}\n"
            "services:\n  llm:\n    <<: *gpu\n    image: vllm/vllm-openai:latest\n"
            "    command: --model meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 2\n")
    d = one(text, "compose.yaml")
    assert (d.gpus, d.tp) == ((0, 1), 2)
    assert d.origin("gpus").line == 6  # where the anchor's device_ids are written


def test_sagemaker_sm_num_gpus_is_tgi_num_shard() -> None:
    """Synthetic (the corpus has no SageMaker example): the HF TGI image maps SM_NUM_GPUS to NUM_SHARD."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: tgi}\nspec:\n  containers:\n"
            "  - name: tgi\n"
            "    image: 763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4\n"
            "    env:\n    - {name: HF_MODEL_ID, value: meta-llama/Llama-3.1-8B-Instruct}\n"
            "    - {name: SM_NUM_GPUS, value: '4'}\n    resources: {limits: {nvidia.com/gpu: 4}}\n")
    d = one(text, "pod.yaml")
    assert (d.engine, d.model, d.tp) == ("tgi", "meta-llama/Llama-3.1-8B-Instruct", 4)


def test_tgi_without_num_shard_shards_over_the_gpus_it_sees() -> None:
    assert one("CUDA_VISIBLE_DEVICES=0,1,2 text-generation-launcher --model-id m\n").tp == 3
    d = one("docker run --gpus all ghcr.io/huggingface/text-generation-inference:2 --model-id m\n")
    assert "tp" in d.unknown and d.shards_from_visible_gpus


@pytest.mark.parametrize("text,match", [
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: {{ .Release.Name }}}\nspec: {containers: [{image: vllm/vllm-openai}]}"
     "\n", "a Helm template: render it with `helm template` first"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}}\n", "a Helm template with no engine"),
    ("a: 1\n<<<<<<< HEAD\nb: 2\n=======\nb: 3\n>>>>>>> x\n", "merge-conflict markers"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - image: vllm/vllm-tpu:latest\n"
     "    args: [--model, m, -tp, '4']\n    resources: {limits: {google.com/tpu: 4}}\n",
     "TPU job.*not an NVIDIA GPU job"),
    ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n", "Widget w: no container"),
])
def test_what_is_not_a_gpu_deployment_is_named(text: str, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        one(text, "x.yaml")


def test_a_placeholder_value_in_another_document_does_not_crash() -> None:
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - image: vllm/vllm-openai\n"
            "    args: [--model, m, -tp, '2']\n---\napiVersion: v1\nkind: Secret\nstringData:\n  token: {{HF_TOKEN}}\n")
    assert one(text, "x.yaml").tp == 2


@pytest.mark.parametrize("text,expect", [
    ("apiVersion: kubeai.org/v1\nkind: Model\nmetadata: {name: m}\nspec:\n  engine: VLLM\n  url: hf://org/m\n"
     "  args: [--tensor-parallel-size=4]\n  resourceProfile: nvidia-gpu-h100:4\n", ("vllm", "org/m", 4, 4)),
    ("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: i}\nspec:\n  predictor:\n"
     "    model:\n      modelFormat: {name: huggingface}\n      args: [--model_id=org/m, --tensor-parallel-size=2]\n"
     "      resources: {limits: {nvidia.com/gpu: 2}}\n", ("vllm", "org/m", 2, 2)),
    ("apiVersion: production-stack.vllm.ai/v1alpha1\nkind: VLLMRuntime\nmetadata: {name: r}\nspec:\n"
     "  model: {modelURL: org/m}\n  vllmConfig: {tensorParallelSize: 2, maxModelLen: 4096}\n"
     "  deploymentConfig: {replicas: 1, resources: {gpu: 2}}\n", ("vllm", "org/m", 2, 2)),
    ("apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: r}\nspec:\n  serveConfigV2: |\n    applications:\n"
     "    - name: a\n      import_path: ray.serve.llm:build_openai_app\n      args:\n        llm_configs:\n"
     "        - model_loading_config: {model_id: x, model_source: org/m}\n"
     "          engine_kwargs: {tensor_parallel_size: 2}\n  rayClusterConfig:\n    headGroupSpec:\n"
     "      template: {spec: {containers: [{name: h, image: ray}]}}\n    workerGroupSpecs:\n    - groupName: g\n"
     "      template: {spec: {containers: [{name: w, image: ray, resources: {limits: {nvidia.com/gpu: 2}}}]}}\n",
     ("vllm", "org/m", 2, 2)),
])
def test_custom_resources(text: str, expect: tuple[object, ...]) -> None:
    d = one(text, "cr.yaml")
    assert (d.engine, d.model, d.tp, d.gpu_count) == expect


def test_ray_serve_engine_kwargs_keep_their_line() -> None:
    text = ("apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: r}\nspec:\n  serveConfigV2: |\n"
            "    applications:\n    - name: a\n      args:\n        llm_configs:\n"
            "        - model_loading_config: {model_source: org/m}\n          engine_kwargs:\n"
            "            tensor_parallel_size: 2\n")
    assert one(text, "cr.yaml").origin("tp").line == 12
