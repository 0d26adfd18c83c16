"""The cost side of an assessment: per-token predictions of a deployment now, on this SKU's healthy NVLink,
on the best free group and as TP=1 replicas — each once for a single stream (batch 1) and once at the
deployment's concurrency (its objective decides which one a recommendation is judged on).

The group's path is what the cost model needs to know about the topology: the weakest pair (measured busbw
when a benchmark of the group or pair is given, else the link's nominal rating), and the class of the ring's
other links when the weak pairs only cut the group in two (`PairTable.ring_local`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tpdoctor.advice import costmodel, engines, objective, placement
from tpdoctor.advice.objective import Objective
from tpdoctor.llm import models
from tpdoctor.model import skus
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.topology import Topology
from tpdoctor.model.unknown import Unknown


def group_path(topology: Topology, group: placement.Group, sku: skus.Sku | None, bench: Sequence[BenchResult],
               table: placement.PairTable | None = None) -> costmodel.GroupPath:
    """The path a group's all-reduces are limited by: measured where a benchmark says, else nominal."""
    assert group.weakest_path is not None
    local = (table or placement.PairTable(topology)).ring_local(group.gpus)
    for r in bench:
        if tuple(sorted(r.group)) == group.gpus and r.correct and not r.error and r.busbw_gbps > 0:
            return costmodel.measured_path(group.weakest_path, r.busbw_gbps, local)
    weakest = None
    for i, a in enumerate(group.gpus):
        for b in group.gpus[i + 1:]:
            lk = topology.gpu_link(a, b)
            if lk is not None and lk.path == group.weakest_path:
                weakest = lk
                break
        if weakest:
            break
    if weakest is not None and weakest.busbw_gbps is not None and len(group.gpus) == 2:
        return costmodel.measured_path(group.weakest_path, weakest.busbw_gbps)
    nominal = None
    if weakest is not None and not isinstance(weakest.nominal_gbps, Unknown) and weakest.nominal_gbps:
        nominal = float(weakest.nominal_gbps)
    return costmodel.nominal_path(group.weakest_path, sku, nominal, local)


def objective_of(dep: Deployment) -> Objective:
    return objective.of(dep.latency_objective_ms, dep.throughput_objective_tps, dep.max_num_seqs)


Memo = dict[tuple[Any, ...], tuple[skus.Sku, costmodel.Prediction]]  # predictions of one check run


def _predict(memo: Memo | None, spec: models.ModelSpec, sku: skus.Sku, batch: int, replicas: int, label: str,
             **kw: Any) -> costmodel.Prediction:
    """`costmodel.predict`, a pure function of its arguments: a fleet asks it the same question for every
    deployment of one model, SKU and TP. Equal arguments (the SKU by identity: it holds a table) give the
    same prediction."""
    if memo is None:
        return costmodel.predict(spec, sku=sku, batch=batch, replicas=replicas, label=label, **kw)
    key = (spec, id(sku), batch, replicas, label, *sorted(kw.items()))
    hit = memo.get(key)
    if hit is None or hit[0] is not sku:
        hit = memo[key] = (sku, costmodel.predict(spec, sku=sku, batch=batch, replicas=replicas, label=label, **kw))
    return hit[1]


def predictions(dep: Deployment, spec: models.ModelSpec, dtype: str, kv_dtype: str, sku: skus.Sku,
                topology: Topology, group: placement.Group | None, best: placement.Group | None,
                bench: Sequence[BenchResult], table: placement.PairTable | None = None,
                memo: Memo | None = None) -> dict[str, object]:
    """Assessment fields: current, nvlink_reference, best_prediction, replicas (batch 1), `loaded` (the same
    at the concurrency) and `objective`. `memo` keeps predictions between calls (see `_predict`)."""
    obj = objective_of(dep)
    eng = engines.engine(dep.engine)
    out: dict[str, object] = {"objective": obj}
    loaded: dict[str, costmodel.Prediction] = {}

    def both(key: str, tp: int, path: costmodel.GroupPath | None, groups: int, label: str,
             gpus: tuple[int, ...] = ()) -> None:
        kw = dict(dtype=dtype, kv_dtype=kv_dtype, engine=eng, tp=tp, path=path, gpus=gpus)
        out[key] = _predict(memo, spec, sku, 1, groups, label, **kw)
        batch = objective.per_group_batch(obj.concurrency, groups)
        loaded[key] = _predict(memo, spec, sku, batch, groups, label, **kw)

    if group is not None and dep.tp > 1 and group.weakest_path:
        gp = group_path(topology, group, sku, bench, table)
        both("current", dep.tp, gp, 1, f"TP={dep.tp} on {group.label} ({gp.path})", group.gpus)
    elif dep.tp == 1:
        both("current", 1, None, 1, "TP=1", group.gpus if group else ())
    if dep.tp > 1 and sku.has_nvlink and sku.nvlink.expected:
        nv = costmodel.nominal_path(f"NV{sku.nvlink.expected}", sku)
        both("nvlink_reference", dep.tp, nv, 1, f"TP={dep.tp} on healthy NV{sku.nvlink.expected}")
    if best is not None and best.weakest_path and dep.tp > 1:
        gp = group_path(topology, best, sku, bench, table)
        both("best_prediction", dep.tp, gp, 1, f"TP={dep.tp} on {best.label} ({gp.path})", best.gpus)
    if dep.tp > 1:
        both("replicas", 1, None, dep.tp, f"TP=1 × {dep.tp} replicas", group.gpus if group else ())
    out["loaded"] = loaded
    return out


def option(a_single: costmodel.Prediction | None,
           a_loaded: costmodel.Prediction | None) -> objective.Option | None:
    return objective.Option(a_single, a_loaded) if a_single is not None and a_loaded is not None else None
