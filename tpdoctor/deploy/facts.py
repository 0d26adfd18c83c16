"""The deployment scope's facts: what deployment rules (TPD2xx) see, one subject per deployment.

Computed in Python from an `Assessment` (placement search, cost model, memory fit); rules in
`rules/deployment/` only decide and explain. Sizes are binary GiB (2^30 B, `_gib`), times ms per output token at
batch 1 (one stream), throughput tokens/s. A fact that cannot be computed (unknown model, unpinned GPUs,
unknown SKU) is null with its reason in `unknown`, so a rule that needs it reports "could not judge".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tpdoctor.advice import objective
from tpdoctor.deploy import cost_facts, crossnode, gpuask, loadable, sentences
from tpdoctor.deploy.assess import Assessment
from tpdoctor.deploy.crossnode import CROSS_NODE_FACTS, NetContext
from tpdoctor.engine.schema import INT, B, F, Fact, L, S, ScopeFacts, ScopeSchema, SubjectSchema
from tpdoctor.llm import kvrules
from tpdoctor.llm.sizing import GIB, MIB
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.topology import PCIE_KINDS, Topology, path_kind
from tpdoctor.model.unknown import Unknown

DEPLOYMENT = SubjectSchema("deployment", "One deployment (a TP group × replicas). `id` is its name, or "
                           "`name (file:line)` when several deployments of a check share the name.", {
    "name": Fact(S, "Deployment name (job name, Kubernetes object, compose service or served model)."),
    "key": Fact(S, "Identity unique per file and line: file:line of what launches it (#n for a second one on "
                   "that line)."),
    "engine": Fact(S, "vllm, sglang, tgi or trtllm."),
    "model": Fact(S, "Model as written in the manifest."),
    "kind": Fact(S, "Manifest kind: job, Pod, Deployment, StatefulSet, LeaderWorkerSet, compose, cmdline."),
    "source": Fact(S, "file:line the deployment was read from."),
    "tp": Fact(INT, "Tensor-parallel size."),
    "pp": Fact(INT, "Pipeline-parallel size."),
    "replicas": Fact(INT, "Independent copies (Kubernetes replicas × data-parallel size)."),
    "nodes": Fact(INT, "Nodes one copy spans (LeaderWorkerSet size, --nnodes)."),
    "host": Fact(S, "The node it is checked against."),
    "gpus": Fact(L, "GPU indices it is pinned to (CUDA_VISIBLE_DEVICES, device_ids, job gpus).", True),
    "gpu_labels": Fact(S, "The pinned group, e.g. GPU0+GPU1.", True),
    "gpus_assigned": Fact(INT, "GPUs it gets per node: pinned list length, else the nvidia.com/gpu request.", True),
    "gpus_needed": Fact(INT, "GPUs one copy needs per node: tp × pp / nodes."),
    "gpus_per_node": Fact(INT, "GPUs on the node (the topology's count)."),
    "gpu_name": Fact(S, "GPU product name.", True),
    "gpu_sku": Fact(S, "SKU key in data/gpus.yaml.", True),
    "gpu_memory_gib": Fact(F, "Memory per GPU, GiB (nvidia-smi memory.total).", True),
    "dtype": Fact(S, "Weights dtype after normalisation: fp32, bf16, fp16, fp8, int8, int4, awq, gptq."),
    "model_known": Fact(B, "The architecture was found (catalogue or config.json)."),
    "model_source": Fact(S, "Where the architecture was read: the config.json path (--model-config, the model "
                            "path, the Hugging Face cache) or the catalogue entry and its published config.", True),
    "model_closest": Fact(S, "For a model not found: the closest published names (never matched silently).", True),
    "weights_source": Fact(S, "Who decided the weights' precision: the checkpoint's quantization_config, the "
                              "engine's quantisation flag, the name, or unknown (llm/precision.py)."),
    "quant_load_error": Fact(S, "Why the engine refuses to load this checkpoint with these flags (a --quantization "
                                "that contradicts the checkpoint, a pre-quantised method on a 16-bit one).", True),
    "weights_unloadable": Fact(S, "Why the engine has no kernel for these weights on this GPU (NVFP4 under "
                                  "TensorRT-LLM before Blackwell …: data/precision_support.yaml).", True),
    "params_b": Fact(F, "Parameters, billions (MoE: all experts).", True),
    "heads": Fact(INT, "Attention heads.", True),
    "kv_heads": Fact(INT, "KV heads.", True),
    "layers": Fact(INT, "Transformer layers.", True),
    "tp_valid": Fact(B, "TP divides the heads, KV heads and FFN size (and does not exceed the heads).", True),
    "tp_problem": Fact(S, "Why it is not valid.", True),
    "valid_tp": Fact(S, "TP sizes that are valid for this model, e.g. 1, 2, 4, 8.", True),
    "weights_gib": Fact(F, "Weights of the whole model in this dtype, GiB.", True),
    "kv_cache_gib": Fact(F, "KV cache of one context_len sequence, whole model (the least KV the engine needs to "
                            "start), GiB.", True),
    "per_gpu_gib": Fact(F, "The least memory one GPU needs to start: weights/(tp·pp) + engine overhead + one "
                           "context_len sequence of KV, GiB.", True),
    "capacity_gib": Fact(F, "What the engine's memory rule lets it use per GPU (vLLM: gpu_memory_utilization × "
                            "memory; SGLang: mem_fraction_static × free memory; TGI: CUDA_MEMORY_FRACTION × 0.9 × "
                            "memory; TensorRT-LLM: the whole GPU), GiB.", True),
    "fits": Fact(B, "The engine starts under its own memory rule at this TP and PP (see start_problem).", True),
    "per_gpu_gib_tp1": Fact(F, "per_gpu_gib at TP=1.", True),
    "fits_one_gpu": Fact(B, "The engine would start at TP=1 (one GPU).", True),
    "min_tp": Fact(INT, "Smallest power-of-two TP (× PP) at which the engine starts; null when none up to 64.",
                 True),
    "start_problem": Fact(S, "Why the engine will not start (memory), in its own terms; null when it starts.",
                          True),
    "memory_advice": Fact(S, "What would make it start: a TP, a dtype, a shorter length, said in words.", True),
    "memory_rule": Fact(S, "The engine's KV rule, in one line, with its source file.", True),
    "kv_pool_gib": Fact(F, "KV cache the engine allocates per GPU under its rule, GiB.", True),
    "kv_pool_tokens": Fact(INT, "Tokens that pool holds (per GPU, the same on every rank).", True),
    "context_len": Fact(INT, "Longest sequence: max_model_len / context_length / max_seq_len / TGI "
                             "max_total_tokens, else the model's max_position_embeddings.", True),
    "kv_seqs_held": Fact(INT, "Full-length (context_len) sequences the KV pool holds at once.", True),
    "kv_seqs_asked": Fact(INT, "Concurrency the deployment asks for (max_num_seqs, --max-running-requests, "
                               "--max_batch_size, --max-concurrent-requests); null when it sets none.", True),
    "kv_limit": Fact(S, "How the engine shortens itself when one full-length sequence does not fit (SGLang caps "
                        "requests, TensorRT-LLM shortens the attention window); null otherwise.", True),
    "context_problem": Fact(S, "A context length the engine refuses for this model (above its "
                               "max_position_embeddings without the override); null otherwise.", True),
    "dp": Fact(INT, "Data-parallel size inside one engine (vLLM --data-parallel-size, SGLang --dp-size)."),
    "group_path": Fact(S, "Weakest path inside the pinned group (topo -m vocabulary).", True),
    "group_kind": Fact(S, "Its class: NV, PIX, PXB, PHB, NODE, SYS, NET.", True),
    "group_pcie": Fact(B, "The weakest path is PCIe (PIX…SYS).", True),
    "broken_pairs": Fact(L, "Pairs in the group whose expected NVLinks are not all up, described.", True),
    "mig_gpus": Fact(L, "GPUs of the pinned group that run in MIG mode (no NVLink, no P2P between instances).",
                     True),
    "numa_nodes": Fact(INT, "NUMA nodes the group spans.", True),
    "cross_socket": Fact(B, "The group spans CPU sockets (a SYS path or more than one NUMA node).", True),
    "cross_node": Fact(B, "One TP group spans nodes (tp > GPUs per node, or nodes > 1 with tp > per-node GPUs)."),
    "overlap_with": Fact(L, "Other deployments holding some of the same GPUs, described."),
    "unpinned_risk": Fact(B, "GPUs are not pinned and a scheduler could hand out a group with a worse weakest "
                           "path than the best free group (a broken NVLink, PCIe or cross-socket pair).", True),
    "worst_pair": Fact(S, "The weakest free group it could get, e.g. GPU0+GPU1 (NODE).", True),
    "gpus_missing": Fact(L, "Host GPU indices it is pinned to that this node does not have (empty when all are "
                            "there or it is not pinned by host index).", True),
    "placement": Fact(S, "How its GPUs are chosen: pinned (host GPUs named), all (it sees every GPU and the engine "
                         "takes the first TP × PP), scheduler (a device plugin, Slurm or Ray picks), unknown."),
    "runtime": Fact(S, "What starts it: kubernetes, compose, docker, shell, slurm, ray, skypilot, dstack, job."),
    "gpus_used": Fact(L, "The node's GPUs its group runs on (pinned or all visible; the scheduler's best group "
                         "otherwise), e.g. [0, 1].", True),
    "scheduler_sets": Fact(INT, "GPUs a scheduler picks: the groups of gpus_needed GPUs it may hand out on this "
                                "node (null when pinned, or too many to count).", True),
    "scheduler_bad_sets": Fact(INT, "Of them, those with a weaker path than the best group.", True),
    "scheduler_down_sets": Fact(INT, "Of them, those including a pair whose NVLink is down.", True),
    "scheduler_all_down": Fact(B, "Every group the scheduler may hand out includes a down NVLink.", True),
    "scheduler_text": Fact(S, "The groups it may get, in words: '2 of the 6 GPU pairs the device plugin may hand "
                              "out cross a down NVLink (GPU0-GPU1 …)'.", True),
    "placement_fix": Fact(S, "How to keep it off the bad groups with this runtime's own means (a node affinity on "
                             "tpdoctor's NFD labels, the device plugin's allocation, Slurm's gres.conf), never "
                             "host indices inside a container.", True),
    "overlap_advice": Fact(S, "How to resolve a GPU clash: who keeps the GPUs, where the others move.", True),
    "nccl_env_conflicts": Fact(L, "NCCL settings that defeat this group's paths, described."),
    "latency_objective_ms": Fact(F, "Per-token latency objective, ms.", True),
    "per_token_ms": Fact(F, "Predicted ms per output token now (batch 1).", True),
    "tokens_per_s": Fact(F, "Predicted tokens/s per stream now.", True),
    "allreduce_ms_per_token": Fact(F, "All-reduce share of each token now, ms.", True),
    "allreduce_us": Fact(F, "One all-reduce now, µs.", True),
    "bw_source": Fact(S, "measured (benchmark given) or nominal.", True),
    "nvlink_allreduce_ms_per_token": Fact(F, "The same TP's all-reduce ms/token on this SKU's healthy NVLink.",
                                        True),
    "nvlink_per_token_ms": Fact(F, "Per-token ms on healthy NVLink.", True),
    "better_group": Fact(S, "A strictly better free group of the same size (weakest path, then NUMA), or null.",
                       True),
    "better_group_path": Fact(S, "Its weakest path.", True),
    "free_group": Fact(S, "The best group of the same size that no other deployment holds (may be the "
                        "current one), e.g. GPU2+GPU3 (NV12).", True),
    "better_per_token_ms": Fact(F, "Predicted ms/token there.", True),
    "better_allreduce_ms_per_token": Fact(F, "Predicted all-reduce ms/token there.", True),
    "tp1_per_token_ms": Fact(F, "ms/token per stream as TP=1 replicas.", True),
    "tp1_tokens_per_s_total": Fact(F, "tokens/s of tp TP=1 replicas together (one stream each).", True),
    "tokens_per_s_total": Fact(F, "tokens/s of this group now (one stream).", True),
    "tp1_meets_objective": Fact(B, "TP=1 replicas meet the stated objective: ms/token of one stream for a latency "
                                   "objective, tokens/s at the concurrency for a throughput one (true when none "
                                   "is stated).", True),
    "move_advice": Fact(S, "Concrete move to the better group with predicted numbers, or null.", True),
    "replica_advice": Fact(S, "Concrete TP=1 × N replicas option with memory and predicted numbers, or null "
                            "when the model does not fit one GPU.", True),
    "advice": Fact(S, "The options above joined with '; or ' (or a note that none exists).", True),
    "notes": Fact(L, "What the readers could not understand (ignored values, unknown models)."),
    "nvlink_cost": Fact(S, "The all-reduce cost over the group's path against healthy NVLink, in words (or why "
                           "it could not be estimated)."),
    "pcie_cost": Fact(S, "The all-reduce cost on a PCIe group, in words (or why it could not be estimated)."),
    "tp_choice": Fact(S, "The TP sizes the model allows and the least that fits, in words (or what is not "
                         "known)."),
    **cost_facts.COST_FACTS, **CROSS_NODE_FACTS, **gpuask.GPU_ASK_FACTS,
})

DEPLOYMENT_SCHEMA = ScopeSchema(
    "deployment", "Facts about each deployment's placement on a node: group paths, memory fit, cost model.",
    {"deployment": DEPLOYMENT})


MEMORY_FACTS = ("start_problem", "memory_advice", "memory_rule", "kv_pool_gib", "kv_pool_tokens", "context_len",
                "kv_seqs_held", "kv_seqs_asked", "kv_limit")
# facts that do not depend on the TP size (kept when the file does not determine TP)
TP_FREE = {"id", "name", "key", "engine", "model", "kind", "source", "pp", "dp", "replicas", "nodes", "host", "gpus",
           "gpu_labels", "gpus_assigned", "gpus_per_node", "gpu_name", "gpu_sku", "gpu_memory_gib", "dtype",
           "model_known", "model_source", "model_closest", "weights_source", "quant_load_error", "params_b", "heads",
           "kv_heads", "layers", "valid_tp", "weights_gib", "group_path", "group_kind", "group_pcie", "broken_pairs",
           "mig_gpus", "numa_nodes", "cross_socket", "overlap_with", "overlap_advice", "nccl_env_conflicts",
           "latency_objective_ms", "notes", "context_problem", "per_gpu_gib_tp1", "fits_one_gpu", "weights_unloadable",
           "gpu_asked", "gpu_not_asked"}

_YES_NO = tuple(k for k, fact in DEPLOYMENT.fields.items() if fact.type == B)  # in schema order


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def subject(a: Assessment, topology: Topology, net: NetContext | None = None,
            bench: Sequence[BenchResult] = ()) -> dict[str, Any]:
    """One deployment's facts: what it is, where it runs, its memory and its costs, and the advice."""
    facts: dict[str, Any] = {**_identity(a, topology), **_memory(a), **_group(a, topology), **_costs(a),
                             "notes": list(a.notes)}
    facts.update(cost_facts.costs(a))
    facts.update(cost_facts.advice(a, facts))
    cross = crossnode.facts(a, topology, net, bench)
    pending = {k: v.reason for k, v in cross.items() if v.__class__ is Unknown}  # cross-node facts not known
    facts.update(cross)
    facts.update(dict.fromkeys(pending))
    facts.update(sentences.sentences(a, facts))
    (can_load, not_known), (asked, not_asked) = loadable.facts(a), gpuask.facts(a)
    facts.update({**can_load, **asked})
    unknown = {**_unknown(a, facts), **pending, **not_known, **not_asked}
    tp_reason = a.deployment.unknown.get("tp")
    if tp_reason:  # TP is not in the file: nothing that depends on it is judged (never a hidden default)
        for k in list(facts):
            if k not in TP_FREE:
                facts[k] = None
                unknown[k] = tp_reason
    for k in _YES_NO:  # a null yes/no is never an answer: a rule must not see it as one
        if facts.get(k) is None and k not in unknown:
            unknown[k] = "not determined for this deployment"
    if "context_problem" in unknown:  # an illustrative entry's length judges nothing
        facts["context_problem"] = None
    facts["unknown"] = {k: v for k, v in unknown.items() if facts.get(k) is None}
    return facts


def _identity(a: Assessment, topology: Topology) -> dict[str, Any]:
    d, spec, g = a.deployment, a.spec, a.group
    return {
        "id": a.sid, "name": d.name, "key": d.ident, "engine": d.engine, "model": d.model, "kind": d.kind,
        "source": d.origin("tp").where() if "tp" in d.origins else d.source, "dp": d.dp,
        "tp": d.tp, "pp": d.pp, "replicas": d.replicas, "nodes": d.nodes, "host": topology.host,
        "gpus": list(a.gpus) if a.gpus is not None else (list(d.host_gpus) if d.host_gpus is not None else None),
        "gpu_labels": (g.label if a.used else f"the best group its scheduler can hand out, {g.label}") if g else None,
        "gpus_assigned": len(a.gpus) if a.gpus is not None else d.gpu_count, "gpus_needed": d.gpus_needed,
        "gpus_per_node": len(topology.gpus),
        "gpu_name": a.gpu_name, "gpu_sku": a.sku.key if a.sku else None,
        "gpu_memory_gib": _r(a.gpu_memory_mib * MIB / GIB, 1) if a.gpu_memory_mib else None,
        "dtype": a.dtype, "model_known": spec is not None,
        "model_source": a.resolution.source if a.resolution is not None and a.resolution.found else None,
        "model_closest": ", ".join(a.resolution.closest) if a.resolution and a.resolution.closest else None,
        "weights_source": a.precision.source if a.precision is not None else "unknown",
        "quant_load_error": a.precision.load_error if a.precision is not None else None,
        "params_b": _r(spec.total_params() / 1e9) if spec else None,
        "heads": spec.heads if spec else None, "kv_heads": spec.kv_heads if spec else None,
        "layers": spec.layers if spec else None,
        "tp_valid": (not a.tp_problems) if spec else None,
        "tp_problem": "; ".join(a.tp_problems) if a.tp_problems else None,
        "valid_tp": ", ".join(str(k) for k in a.valid_tp) if spec else None,
    }


def _memory(a: Assessment) -> dict[str, Any]:
    mem, mem1, spec = a.memory, a.memory_tp1, a.spec
    one_seq = None
    if mem is not None and spec is not None:
        whole = kvrules.kv_per_token(spec, "vllm", 1, 1, a.deployment.kv_cache_dtype, a.dtype)
        one_seq = _r(whole * mem.context / GIB, 1)
    return {
        "weights_gib": _r(mem.weights_bytes / GIB, 1) if mem else None,
        "kv_cache_gib": one_seq,
        "per_gpu_gib": _r(mem.need_bytes / GIB, 1) if mem else None,
        "capacity_gib": _r(mem.budget_bytes / GIB, 1) if mem else None,
        "fits": mem.starts if mem else None,
        "per_gpu_gib_tp1": _r(mem1.need_bytes / GIB, 1) if mem1 else None,
        "fits_one_gpu": mem1.starts if mem1 else None,
        "min_tp": a.min_tp,
        "start_problem": mem.problem if mem else None,
        "memory_advice": sentences.memory_advice(a) if mem and not mem.starts else None,
        "memory_rule": f"{mem.engine}: {kvrules.SOURCES[mem.engine]}" if mem else None,
        "kv_pool_gib": _r(max(mem.kv_pool_bytes, 0) / GIB, 1) if mem else None,
        "kv_pool_tokens": mem.pool_tokens if mem else None,
        "context_len": mem.context if mem else None,
        "kv_seqs_held": mem.seqs_held if mem else None,
        "kv_seqs_asked": mem.seqs_asked if mem else None,
        "kv_limit": mem.limit if mem else None,
        "context_problem": a.context_problem,
    }


def _group(a: Assessment, topology: Topology) -> dict[str, Any]:
    d, g = a.deployment, a.group
    kind = path_kind(g.weakest_path) if g and g.weakest_path else None
    return {
        "group_path": g.weakest_path if g else None,
        "group_kind": kind.value if kind else None,
        "group_pcie": (kind in PCIE_KINDS) if kind else None,
        "broken_pairs": list(a.broken_pairs) if g else None,
        "mig_gpus": _mig_gpus(a, topology) if g else None,
        "numa_nodes": g.numa_nodes if g else None,
        "cross_socket": (g.numa_nodes > 1 or kind is not None and kind.value == "SYS") if g else None,
        "cross_node": d.nodes > 1 and d.tp > (d.gpu_count or len(topology.gpus)) or d.tp > len(topology.gpus),
        "overlap_with": sentences.overlaps(a),
        "unpinned_risk": (a.sets.risky if a.sets is not None else None if d.host_gpus is None else False)
        if a.used is None and d.gpus_needed > 1 else False,
        "worst_pair": f"{a.worst_pair.label} ({a.worst_pair.weakest_path})" if a.worst_pair else None,
        "gpus_missing": _missing(a, topology),
        "placement": d.placement, "runtime": d.runtime or d.kind,
        "gpus_used": list(a.used) if a.used else (list(g.gpus) if g else None),
        **_scheduler(a),
        "overlap_advice": a.overlap_advice,
        "nccl_env_conflicts": list(a.nccl_conflicts),
    }


def _missing(a: Assessment, topology: Topology) -> list[int] | None:
    """Pinned host GPUs the node lacks; None when it is pinned to another node (that node is not checked)."""
    d = a.deployment
    if d.host_gpus is None:
        return []
    if d.node is not None and d.node != topology.host:
        return None
    have = {g.index for g in topology.gpus}
    return [i for i in d.host_gpus if i not in have]


_WHO = {"kubernetes": "the device plugin", "slurm": "Slurm", "ray": "Ray", "skypilot": "SkyPilot",
        "dstack": "dstack", "job": "the scheduler"}


def _scheduler(a: Assessment) -> dict[str, Any]:
    s, d = a.sets, a.deployment
    if s is None:
        return dict.fromkeys(("scheduler_sets", "scheduler_bad_sets", "scheduler_down_sets", "scheduler_all_down",
                              "scheduler_text", "placement_fix"))
    who = _WHO.get(d.runtime, "the scheduler")
    return {"scheduler_sets": s.total, "scheduler_bad_sets": s.bad, "scheduler_down_sets": s.down,
            "scheduler_all_down": s.all_down, "scheduler_text": s.describe(who),
            "placement_fix": sentences.placement_fix(a)}


def _mig_gpus(a: Assessment, topology: Topology) -> list[str]:
    """The pinned GPUs in MIG mode (the node's `-q`, MIG query or NVML said so)."""
    mig = {g.index for g in topology.gpus if g.mig is True}
    return [f"GPU{i}" for i in (a.gpus or ()) if i in mig]


def _costs(a: Assessment) -> dict[str, Any]:
    """Per-token costs now, on NVLink, on the better group and as TP=1 replicas (and those groups)."""
    cur, nvref, best, rep = a.current, a.nvlink_reference, a.best_prediction, a.replicas
    obj = a.objective or objective.of(None, None, a.deployment.max_num_seqs)
    rep_loaded = a.loaded.get("replicas")
    tp1_meets: bool | None = None
    if rep is not None and rep_loaded is not None:
        tp1_meets = objective.meets(obj, objective.Option(rep, rep_loaded))
    return {
        "latency_objective_ms": float(obj.latency_ms) if obj.latency_ms is not None else None,
        "per_token_ms": _r(cur.per_token_ms) if cur else None,
        "tokens_per_s": _r(cur.tokens_per_s_per_stream, 1) if cur else None,
        "tokens_per_s_total": _r(cur.tokens_per_s_total, 1) if cur else None,
        "allreduce_ms_per_token": _r(cur.allreduce_ms_per_token) if cur else None,
        "allreduce_us": _r(cur.allreduce_us, 1) if cur else None,
        "bw_source": cur.bw_source if cur else None,
        "nvlink_allreduce_ms_per_token": _r(nvref.allreduce_ms_per_token) if nvref else None,
        "nvlink_per_token_ms": _r(nvref.per_token_ms) if nvref else None,
        "better_group": a.best.label if a.best else None,
        "better_group_path": a.best.weakest_path if a.best else None,
        "free_group": (f"{a.free_best.label} ({a.free_best.weakest_path})" if a.free_best.weakest_path
                       else a.free_best.label) if a.free_best else None,
        "better_per_token_ms": _r(best.per_token_ms) if best else None,
        "better_allreduce_ms_per_token": _r(best.allreduce_ms_per_token) if best else None,
        "tp1_per_token_ms": _r(rep.per_token_ms) if rep else None,
        "tp1_tokens_per_s_total": _r(rep.tokens_per_s_total, 1) if rep else None,
        "tp1_meets_objective": tp1_meets,
    }


def _unknown(a: Assessment, facts: dict[str, Any]) -> dict[str, str]:
    """Why each fact that could not be computed is missing (the first reason that applies wins)."""
    d = a.deployment
    unknown: dict[str, str] = {}

    def need(cond: object, names: Sequence[str], reason: str) -> None:
        if not cond:
            for n in names:
                unknown.setdefault(n, reason)

    model_reason = d.unknown.get("model") or next((n for n in a.notes if "model" in n),
                                                   "model architecture not known")
    if a.spec is not None and a.spec.illustrative and (d.max_model_len or 0) > a.spec.max_context:
        unknown["context_problem"] = (f"{a.spec.name}'s catalogue entry is illustrative, not a published config: "
                                      "its max_position_embeddings is not the model's (give --model-config)")
    pin_reason = cost_facts.group_reason(a)
    need(facts.get("unpinned_risk") is not None, ["unpinned_risk"], pin_reason)
    need(facts.get("gpus_missing") is not None, ["gpus_missing"],
         f"pinned to node {d.node}; only {facts.get('host')} is checked")
    weights_reason = a.precision.note if a.precision is not None and a.precision.note else "weights precision unknown"
    need(a.dtype != "unknown", ["weights_gib", "kv_cache_gib", "per_gpu_gib", "per_gpu_gib_tp1", "fits",
                                "fits_one_gpu", "per_token_ms", "tokens_per_s", "tp1_per_token_ms",
                                "tp1_meets_objective", *MEMORY_FACTS], weights_reason)
    need(a.spec, ["params_b", "heads", "kv_heads", "layers", "tp_valid", "valid_tp", "weights_gib", "kv_cache_gib",
                  "per_gpu_gib", "per_gpu_gib_tp1", "fits", "fits_one_gpu", "per_token_ms", "tokens_per_s",
                  "tp1_per_token_ms", "tp1_meets_objective", *MEMORY_FACTS], model_reason)
    need(a.group, ["gpus", "gpu_labels", "group_path", "group_kind", "group_pcie", "broken_pairs", "mig_gpus",
                   "numa_nodes", "cross_socket"], pin_reason)
    no_gpu = ("the topology does not name the GPU (give --gpu SKU)" if not a.gpu_name
              else f"GPU {a.gpu_name!r} is not in data/gpus.yaml (give --gpu SKU)")
    need(a.sku, ["gpu_sku", "per_token_ms", "tp1_per_token_ms", "nvlink_per_token_ms"], no_gpu)
    need(a.gpu_memory_mib, ["gpu_memory_gib", "capacity_gib", "fits", "fits_one_gpu", "min_tp", *MEMORY_FACTS],
         "GPU memory not read and " + no_gpu.replace("the topology", "the topology"))
    need(not facts["multi_node"] or facts["gpus_without_local_nic"] is not None,
         ["nic_paths", "gpus_without_local_nic"],
         "the report does not say where the NICs are (no NIC in topo -m, or blank NIC cells)"
         if a.group or a.free_best else pin_reason)
    for k, why in cost_facts.unknown_reasons(a, facts).items():
        unknown.setdefault(k, why)
    return unknown


def deployment_facts(assessments: Sequence[Assessment], topology: Topology,
                     bench: Sequence[BenchResult] = ()) -> ScopeFacts:
    return ScopeFacts("deployment", {"deployment": [subject(a, topology, bench=bench) for a in assessments]})

