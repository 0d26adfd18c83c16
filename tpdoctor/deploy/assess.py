"""Everything tpdoctor computes about one deployment on one node, before any rule decides anything.

`assess` ties a Deployment to the Topology: which GPUs it holds and the weakest path between them, the
model's memory at this TP and at TP=1, the per-token cost now, on the best free group and as TP=1
replicas, GPU overlaps with other deployments and NCCL settings that defeat the topology. Facts
(`deploy/facts.py`) flatten this for the rules; `--fix` reads it to rewrite the manifest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpdoctor.advice import costmodel, placement, quant, scheduler
from tpdoctor.advice.objective import Objective
from tpdoctor.deploy import costs
from tpdoctor.deploy import memory as engine_memory
from tpdoctor.llm import models, precision, sizing
from tpdoctor.llm.kvrules import EngineMemory
from tpdoctor.llm.precision import Precision
from tpdoctor.model import frozen, skus
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import TpdError
from tpdoctor.model.topology import RANK, PathKind, Topology, path_kind
from tpdoctor.model.unknown import Unknown

UNNAMED_GPU = "unknown GPU"  # what probes/build.py calls a GPU no capture named
# NCCL_P2P_LEVEL names, best to worst: P2P is used up to and including the level.
_P2P_LEVELS = ["LOC", "NVL", "PIX", "PXB", "PHB", "SYS"]


@dataclass(frozen=True)
class Assessment:
    deployment: Deployment
    spec: models.ModelSpec | None
    dtype: str
    sku: skus.Sku | None
    gpu_name: str | None
    gpu_memory_mib: int | None
    gpus: tuple[int, ...] | None  # pinned GPUs that exist on the node
    group: placement.Group | None  # the pinned group's paths (None when not pinned)
    broken_pairs: tuple[str, ...] = ()  # "GPU0-GPU1 (NVLink 0/12 up)"
    down_pairs: tuple[str, ...] = ()  # broken pairs with no NVLink left: their traffic crosses PCIe
    degraded_pairs: tuple[str, ...] = ()  # broken pairs still on NVLink, with fewer links than expected
    memory: EngineMemory | None = None  # this TP under the engine's own memory rule
    memory_tp1: EngineMemory | None = None
    min_tp: int | None = None
    context_problem: str | None = None
    current: costmodel.Prediction | None = None
    nvlink_reference: costmodel.Prediction | None = None  # the same TP over this SKU's healthy NVLink
    best: placement.Group | None = None  # a strictly better free group of the same size
    free_best: placement.Group | None = None  # the best group of the same size no other deployment holds
    worst_pair: placement.Group | None = None  # unpinned TP: the weakest free group a scheduler could hand out
    used: tuple[int, ...] | None = None  # the node's GPUs its group runs on, when known (pinned, or all visible)
    sets: scheduler.Sets | None = None  # GPUs a scheduler picks: the groups it may hand out on this node
    best_prediction: costmodel.Prediction | None = None
    replicas: costmodel.Prediction | None = None  # TP=1 × tp replicas
    objective: Objective | None = None  # what the deployment is judged on (advice/objective.py)
    loaded: dict[str, costmodel.Prediction] = field(default_factory=dict)  # the same options at the concurrency
    overlap: dict[str, tuple[int, ...]] = field(default_factory=dict)
    overlap_advice: str | None = None  # who keeps the shared GPUs and where the others move (check.py)
    nccl_conflicts: tuple[str, ...] = ()
    tp_problems: tuple[str, ...] = ()
    valid_tp: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    subject: str = ""  # the findings' subject: the name, or name (file:line) when names repeat (check.py)
    resolution: models.Resolution | None = None  # which model, and where its architecture was read
    precision: Precision | None = None  # the weights as the engine loads them, and who decided it

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def sid(self) -> str:
        return self.subject or self.deployment.name


UNKNOWN_DTYPE = "unknown"


def resolve_dtype(dep: Deployment, res: models.Resolution | None, notes: list[str]) -> tuple[str, Precision]:
    """(weights format for sizing, or UNKNOWN_DTYPE; the precision with its source) — llm/precision.py."""
    p = precision.for_deployment(dep, res)
    if p.note:
        notes.append(p.note)
    if p.weights:
        try:
            return quant.normalize(p.weights), p
        except ValueError as exc:
            notes.append(f"{p.source}: {exc}")
    return UNKNOWN_DTYPE, p


def resolve_gpus(dep: Deployment, topology: Topology, notes: list[str]) -> tuple[int, ...] | None:
    """The host GPUs it is pinned to, when they are on the node (container indices are not host GPUs)."""
    indices = {g.index for g in topology.gpus}
    if dep.gpu_uuids:
        by_uuid = {str(g.uuid).lower(): g.index for g in topology.gpus if not isinstance(g.uuid, Unknown)}
        found = tuple(by_uuid[u.lower()] for u in dep.gpu_uuids if u.lower() in by_uuid)
        if len(found) != len(dep.gpu_uuids):
            notes.append(f"GPU UUIDs not on {topology.host}: "
                         + ", ".join(u for u in dep.gpu_uuids if u.lower() not in by_uuid))
            return None
        return found
    if dep.host_gpus is None:
        return None
    missing = [i for i in dep.host_gpus if i not in indices]
    if missing:
        notes.append(f"GPU{missing[0]} is not on {topology.host} (it has {len(indices)} GPUs)")
        return None
    return tuple(dep.host_gpus)


def used_gpus(dep: Deployment, topology: Topology, pinned: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The node's GPUs the engine runs on: the first TP × PP (per node) of what it sees — of the pinned GPUs, or
    of every GPU of the node when it sees them all (vLLM, SGLang and TensorRT-LLM ranks use devices 0…n-1)."""
    n = dep.gpus_needed
    if pinned is not None:
        return pinned[:n] if len(pinned) >= n else pinned
    if "tp" in dep.unknown or "pp" in dep.unknown:  # how many of them it takes is not known
        return None
    if dep.placement == "all" and dep.gpus is None and not dep.gpu_uuids:
        ordered = [g.index for g in sorted(topology.gpus, key=lambda g: g.index)]
        return tuple(ordered[:n]) if len(ordered) >= n else None
    return None


def shares_node(a: Deployment, b: Deployment) -> bool:
    """They could run at the same time on the same node (compose services of disjoint profiles never do, nor
    two launches of one script when the first runs in the foreground: the second starts once it has exited)."""
    if a.node is not None and b.node is not None and a.node != b.node:
        return False
    if a.step and b.step and a.step[0] == b.step[0] and a.step[1] != b.step[1]:
        first = a.step if a.step[1] < b.step[1] else b.step
        if first[2]:
            return False
    return not (a.profiles and b.profiles and not set(a.profiles) & set(b.profiles))


def tp_validity(spec: models.ModelSpec, tp: int) -> list[str]:
    problems = []
    if tp > spec.heads:
        problems.append(f"TP={tp} exceeds the {spec.heads} attention heads")
    elif spec.heads % tp:
        problems.append(f"TP={tp} does not divide the {spec.heads} attention heads")
    if not spec.is_mla and spec.kv_heads % tp and tp % spec.kv_heads:
        problems.append(f"TP={tp} and the {spec.kv_heads} KV heads do not divide one another")
    ffn = spec.moe_intermediate if spec.is_moe else spec.intermediate
    if ffn % tp:
        problems.append(f"TP={tp} does not divide the FFN size {ffn}")
    return problems


def nccl_conflicts(env: dict[str, str], group: placement.Group | None) -> list[str]:
    out = []
    kind = path_kind(group.weakest_path) if group and group.weakest_path else None
    if env.get("NCCL_P2P_DISABLE", "0").strip() not in ("", "0") and kind is not None and kind is not PathKind.NET:
        out.append(f"NCCL_P2P_DISABLE={env['NCCL_P2P_DISABLE']} sends every all-reduce through host memory "
                   f"although the group's GPUs have {group.weakest_path if group else '?'} peer-to-peer paths")
    level = env.get("NCCL_P2P_LEVEL", "").strip().upper()
    if level and kind is not None and level in _P2P_LEVELS:
        group_level = "NVL" if kind is PathKind.NV else kind.value
        if group_level in _P2P_LEVELS and _P2P_LEVELS.index(level) < _P2P_LEVELS.index(group_level):
            out.append(f"NCCL_P2P_LEVEL={level} disables peer-to-peer over the group's {group_level} paths")
    if env.get("NCCL_NVLS_ENABLE", "").strip() == "0" and kind is PathKind.NV and group and len(group.gpus) > 4:
        out.append("NCCL_NVLS_ENABLE=0 turns off NVLink SHARP on an NVSwitch group (~30% lower busbw)")
    return out


def _visible_shards(dep: Deployment, topology: Topology, notes: list[str]) -> Deployment:
    """TGI without --num-shard shards over every GPU it sees: on this node, all of them."""
    if not dep.shards_from_visible_gpus or "tp" not in dep.unknown or not topology.gpus:
        return dep
    n = len(topology.gpus)
    notes.append(f"TGI shards over every GPU it sees (no --num-shard): on {topology.host}, TP={n} on all its GPUs")
    return dep.with_values(tp=n, gpus=tuple(g.index for g in topology.gpus),
                           unknown={k: v for k, v in dep.unknown.items() if k != "tp"})


def _prebuilt(dep: Deployment, base_dir: Path | None, notes: list[str]) -> Deployment:
    """A prebuilt TensorRT-LLM engine whose directory (with its config.json) is at hand: TP and PP from its
    mapping (`pretrained_config.mapping`, or the older `builder_config` tensor/pipeline_parallel)."""
    import json

    from tpdoctor.files.read import read_text

    if not dep.engine_dir or "tp" not in dep.unknown:
        return dep
    where = Path(dep.engine_dir)
    where = where if where.is_absolute() or base_dir is None else base_dir / where
    cfg = where / "config.json"
    if not cfg.is_file():
        return dep
    try:
        data = json.loads(read_text(cfg, what="a TensorRT-LLM engine config"))
    except (TpdError, ValueError) as exc:
        notes.append(f"{cfg}: not read ({exc})")
        return dep
    top = _obj(data)
    mapping, old = _obj(_obj(top.get("pretrained_config")).get("mapping")), _obj(top.get("builder_config"))
    tp, pp = mapping.get("tp_size", old.get("tensor_parallel")), mapping.get("pp_size", old.get("pipeline_parallel", 1))
    if not isinstance(tp, int) or not isinstance(pp, int) or tp < 1 or pp < 1:
        return dep
    notes.append(f"TP={tp} PP={pp} from the prebuilt engine's {cfg}")
    return dep.with_values(tp=tp, pp=pp, unknown={k: v for k, v in dep.unknown.items() if k not in ("tp", "pp")})


def _obj(value: object) -> dict[str, Any]:
    """A JSON object, or {} for any other shape (a config.json level that is a list or a number is not read)."""
    return value if isinstance(value, dict) else {}


def _gpu_of(topology: Topology, gpus: tuple[int, ...] | None, override: skus.Sku | None,
            notes: list[str]) -> tuple[str | None, skus.Sku | None, int | None]:
    """(GPU name, SKU, memory MiB) of the group, or of the `--gpu` SKU the user named."""
    ref = topology.gpu(gpus[0]) if gpus else (topology.gpus[0] if topology.gpus else None)
    name = ref.name if ref and ref.name != UNNAMED_GPU else None  # a raw topo -m names no GPU
    mem = ref.memory_mib if ref and not isinstance(ref.memory_mib, Unknown) else None
    if override is not None:
        found = skus.lookup(name) if name else None
        if found is not None and found.key != override.key:
            notes.append(f"--gpu {override.key} overrides the node's {name}")
        if found is None or found.key != override.key:
            name, mem = override.match[0] if override.match else override.key, None
        return name, override, mem or int(override.memory_gib * 1024)
    sku = skus.lookup(name) if name else None
    if mem is None and sku is not None:
        mem = int(sku.memory_gib * 1024)
    return name, sku, mem


def _held(dep: Deployment, original: Deployment, others: Sequence[Deployment], topology: Topology,
          used: tuple[int, ...] | None) -> tuple[set[int], dict[str, tuple[int, ...]]]:
    """GPUs the other deployments of the check use on this node, and which of them it shares (by name)."""
    theirs = [(o, used_gpus(o, topology, tuple(o.host_gpus) if o.host_gpus is not None else None))
              for o in others if o is not original and shares_node(dep, o)]
    held = {g for _o, u in theirs for g in (u or ())}
    shared = [(o, u) for o, u in theirs if u and used and set(u) & set(used)]
    twice = {n for n, c in Counter(o.name for o in others).items() if c > 1} if shared else set()
    overlap = {(o.name if o.name not in twice else f"{o.name} ({o.ident})"):
               tuple(sorted(set(u or ()) & set(used or ()))) for o, u in shared}
    return held, overlap


def assess(dep: Deployment, topology: Topology, *, others: Sequence[Deployment] = (),
           bench: Sequence[BenchResult] = (), table: placement.PairTable | None = None,
           base_dir: Path | None = None, held_by: Mapping[str, tuple[int, ...]] | None = None,
           gpu: skus.Sku | None = None, model_config: Path | None = None, allocation: str = "any",
           memo: costs.Memo | None = None) -> Assessment:
    """See the module docstring. `memo` keeps cost-model predictions between calls (a fleet's check)."""
    notes = list(dep.notes)
    original = dep
    dep = _prebuilt(_visible_shards(dep, topology, notes), base_dir, notes)
    res = models.resolve_model(dep.model, base_dir, model_config) if dep.model or model_config else None
    spec = res.spec if res else None
    if res is not None and res.note:
        notes.append(res.note)
    dtype, prec = resolve_dtype(dep, res, notes)
    if dep.node and dep.node != topology.host:
        notes.append(f"pinned to node {dep.node}; checked against the topology of {topology.host}")
    gpus = resolve_gpus(dep, topology, notes)
    used = used_gpus(dep, topology, gpus)
    gpu_name, sku, mem_mib = _gpu_of(topology, used or gpus, gpu, notes)
    t = table or placement.PairTable(topology)
    if held_by is not None:  # fleet mode: who holds which GPUs of this node, decided by the caller
        held = {g for gs in held_by.values() for g in gs}
        overlap = {n: tuple(sorted(set(gs) & set(used or ()))) for n, gs in held_by.items()
                   if used and set(gs) & set(used)}
    else:
        held, overlap = _held(dep, original, others, topology, used)
    n = dep.gpus_needed
    sets = None
    if used is None and (dep.placement == "scheduler" or dep.gpu_scope == "container") and n <= len(topology.gpus):
        sets = scheduler.sets(topology, n, exclude=frozenset(held), allocation=allocation, table=t)
        if sets is not None and sets.best is not None and n > 1:
            notes.append(f"the scheduler picks its {n} GPUs: judged on the best group it can hand out, "
                         f"{sets.best.label} ({sets.best.weakest_path}); {sets.describe('it')}")
    group = t.group(used) if used else (sets.best if sets is not None and sets.best is not None and n > 1 else None)
    broken, down = _broken_pairs(topology, group.gpus if group else None)
    result = Assessment(deployment=dep, spec=spec, dtype=dtype, sku=sku, gpu_name=gpu_name,
                        gpu_memory_mib=mem_mib, gpus=gpus, group=group, broken_pairs=tuple(broken),
                        down_pairs=tuple(down), degraded_pairs=tuple(x for x in broken if x not in down),
                        overlap=overlap, nccl_conflicts=tuple(nccl_conflicts(dep.env, group)), notes=(),
                        resolution=res, precision=prec, used=used, sets=sets)
    extra: dict[str, object] = {}
    best = sets.best if sets is not None else (  # scheduler.sets found it with the same arguments
        placement.best_group(topology, n, exclude=held, table=t) if n <= len(topology.gpus) else None)
    extra["free_best"] = best
    if sets is not None and dep.tp > 1 and n > 1 and sets.bad and sets.worst is not None:
        extra["worst_pair"] = sets.worst
    if group is not None and used and best is not None and best.gpus != group.gpus and len(group.gpus) == n and (
            best.weakest_quality < group.weakest_quality
            or (best.weakest_quality == group.weakest_quality and best.numa_nodes < group.numa_nodes)):
        extra["best"] = best
    if spec is not None and dtype == UNKNOWN_DTYPE:
        extra["tp_problems"] = tuple(tp_validity(spec, dep.tp))
        extra["valid_tp"] = tuple(k for k in range(1, max(9, len(topology.gpus) + 1)) if not tp_validity(spec, k))
    elif spec is not None:
        sdt = quant.sizing_dtype(dtype)  # the memory estimate sizes NVFP4/MXFP4 as 4-bit with group scales
        if mem_mib and "tp" not in dep.unknown:
            mem = engine_memory.assess(dep, spec, sdt, mem_mib, max(64, len(topology.gpus)), notes)
            extra.update(memory=mem.now, memory_tp1=mem.tp1, min_tp=mem.min_tp)
        extra["context_problem"] = engine_memory.context_problem(dep, spec)
        extra["tp_problems"] = tuple(tp_validity(spec, dep.tp))
        extra["valid_tp"] = tuple(k for k in range(1, max(9, len(topology.gpus) + 1))
                                  if not tp_validity(spec, k))
        if sku is not None:
            extra.update(costs.predictions(dep, spec, dtype, _kv_dtype(dep), sku, topology, group,
                                           extra.get("best"), bench, t, memo))  # type: ignore[arg-type]
    return frozen.replace(result, notes=tuple(notes), **extra)  # without a frozen store per field


def _broken_pairs(topology: Topology, gpus: tuple[int, ...] | None) -> tuple[list[str], list[str]]:
    """(pairs of the group missing expected NVLinks, those of them with none left: traffic over PCIe)."""
    broken: list[str] = []
    down: list[str] = []
    for i, a in enumerate(gpus or ()):
        for b in (gpus or ())[i + 1:]:
            lk = topology.gpu_link(a, b)
            exp = lk.nvlinks_expected if lk is not None else 0
            if lk is not None and isinstance(exp, int) and exp > lk.nvlinks:
                broken.append(f"{lk.a}-{lk.b} (NVLink {lk.nvlinks}/{exp} up, traffic over {lk.path})")
                if not lk.path.startswith("NV"):
                    down.append(broken[-1])
    return broken, down


def _kv_dtype(dep: Deployment) -> str:
    try:
        return sizing.normalize_dtype(dep.kv_cache_dtype, default="bf16")
    except ValueError:
        return "bf16"


def rank_of(path: str | None) -> int | None:
    return RANK[path_kind(path)] if path else None
