"""Sentences deployment rules print whole, built from the facts: a fact that is unknown is said once, in
words ("the slowdown could not be estimated: the model is not in the catalogue"), never as "unknown ms/token
(unknown vs unknown)" or "at least unknown GPUs"."""

from __future__ import annotations

from typing import Any

from tpdoctor.deploy.assess import Assessment


def memory_advice(a: Assessment) -> str:
    """What would make it start, each option once and in words (never "at least unknown GPUs")."""
    d, mem = a.deployment, a.memory
    assert mem is not None
    options = []
    if a.min_tp is not None and a.min_tp > d.tp:
        gpus = a.min_tp * d.pp
        options.append(f"{gpus} GPUs of this kind (TP={a.min_tp}" + (f" × PP={d.pp}" if d.pp > 1 else "")
                       + "; TP inside a node, PP across nodes)")
    elif a.min_tp is None:
        options.append("no TP up to 64 GPUs of this kind holds it: quantise the weights (fp8, int4)")
    if mem.kv_per_token == 0 and a.spec is not None:  # TP split the KV heads into none per GPU (TGI asserts)
        options.append(f"a TP size of at most {a.spec.kv_heads} (the model's KV heads)")
    elif mem.seqs_held == 0 and mem.kv_pool_bytes > 0 and mem.pool_tokens > 0:  # 0 tokens: no length helps
        options.append(f"a max length of at most {mem.pool_tokens:,} tokens (now {mem.context:,})")
    if a.dtype in ("bf16", "fp16", "fp32"):
        options.append("fp8 or int4 weights")
    return "; or ".join(options) if options else "more GPU memory per GPU"


def why_no_cost(a: Assessment) -> str:
    if a.spec is None:
        return a.deployment.unknown.get("model") or f"model {a.deployment.model!r} is not in the catalogue"
    if a.sku is None:
        return "the GPU is not in data/gpus.yaml (give --gpu SKU)" if a.gpu_name else \
            "the topology does not name the GPU (give --gpu SKU)"
    return "no cost estimate for this group"


def sentences(a: Assessment, f: dict[str, Any]) -> dict[str, Any]:
    """Sentences rules print whole, so a fact that is unknown is said once, in words ("could not be
    estimated: the model is not in the catalogue"), never as "unknown ms/token (unknown vs unknown)"."""
    keys = ("allreduce_ms_per_token", "nvlink_allreduce_ms_per_token", "per_token_ms", "nvlink_per_token_ms")
    if all(f.get(k) is not None for k in keys):
        pct = f", +{f['nvlink_slowdown_pct']:.0f}%" if f.get("nvlink_slowdown_pct") is not None else ""
        slowdown = (f"est. all-reduce {f['allreduce_ms_per_token']:.2f} ms/token over {f['group_path']} vs "
                    f"{f['nvlink_allreduce_ms_per_token']:.2f} ms on healthy NVLink ({f['per_token_ms']:.2f} vs "
                    f"{f['nvlink_per_token_ms']:.2f} ms/token{pct})")
    else:
        slowdown = (f"all-reduces take the {f['group_path']} path; the slowdown could not be estimated: "
                    f"{why_no_cost(a)}")
    if all(f.get(k) is not None for k in ("allreduce_us", "allreduce_ms_per_token", "per_token_ms")):
        pcie = (f"est. {f['allreduce_us']:.0f} µs per all-reduce, {f['allreduce_ms_per_token']:.2f} of "
                f"{f['per_token_ms']:.2f} ms per token")
    else:
        pcie = f"the cost could not be estimated: {why_no_cost(a)}"
    if f.get("valid_tp") is None:
        choice = f"a TP size the model allows (its architecture is not known: {why_no_cost(a)})"
    elif a.min_tp is not None:
        choice = f"one of {f['valid_tp']} (and fits: at least {a.min_tp})"
    elif a.memory is not None:
        choice = f"one of {f['valid_tp']} (none up to 64 GPUs of this kind holds it: quantise it)"
    else:
        choice = f"one of {f['valid_tp']} (whether it fits is not known: the GPU's memory is not)"
    advice = f["advice"]
    if advice is None:
        advice = ("no strictly better free group exists on this node, and TP=1 replicas are not an option "
                  + ("(the model does not start on one GPU)" if f.get("fits_one_gpu") is False else
                     f"(one GPU's fit is not known: {why_no_cost(a)})" if f.get("fits_one_gpu") is None else
                     "(TP is 1)"))
    return {"nvlink_cost": slowdown, "pcie_cost": pcie, "tp_choice": choice, "advice": advice}


def overlaps(a: Assessment, shown: int = 4) -> list[str]:
    """Who shares GPUs with it, described; a long list ends with how many more (text stays linear)."""
    items = [f"{n} ({'+'.join(f'GPU{i}' for i in gs)})" for n, gs in sorted(a.overlap.items())]
    return items if len(items) <= shown else [*items[:shown], f"{len(items) - shown} more"]


def placement_fix(a: Assessment) -> str:
    """Keep a scheduler-placed group off the bad GPUs with the runtime's own means; never host indices inside
    a container (CUDA_VISIBLE_DEVICES there names the container's GPUs, not the node's)."""
    d, host = a.deployment, a.group.gpus if a.group else ()
    n = d.gpus_needed
    labels = ("a nodeAffinity on the labels `tpdoctor health --nfd` writes, so the pod lands only on nodes whose "
              "NVLinks are whole (in the pod spec: `affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuring"
              "Execution: {nodeSelectorTerms: [{matchExpressions: [{key: tpdoctor.io/nvlink.links-down, operator: In, "
              f"values: [\"0\"]}}]}}]}}}}}}`, or `tpdoctor.io/nvlink.healthy-group` Gt {n - 1})")
    if d.runtime == "kubernetes":
        return (f"{labels}; or run the NVIDIA device plugin with whole GPUs, whose GetPreferredAllocation "
                "(best-effort policy) picks the free set with the most active NVLinks (then check with "
                "--allocation best-effort); or cordon the node until the NVLink is repaired")
    if d.runtime == "slurm":
        return ("describe the NVLinks in gres.conf (Links=) so Slurm's --gres selection prefers linked GPUs, or "
                "--exclude the node until the NVLink is repaired")
    if d.runtime in ("skypilot", "dstack"):
        return "exclude the node (or instance) until the NVLink is repaired; nothing in the file pins host GPUs"
    if host:
        return f"pin it to host GPUs {'+'.join(f'GPU{i}' for i in host)} where the runtime names host GPUs"
    return "pin it to a healthy group where the runtime names host GPUs"
