"""The cost facts of a deployment and the advice built on them: what TPD200/TPD202/TPD209/TPD220 read.

Every option tpdoctor advises (move to a better group, run TP=1 replicas) is first judged on the deployment's
objective (`advice/objective.py`): a latency objective compares ms per token of one stream, a throughput
objective (or none) compares tokens/s of all streams at the deployment's concurrency. An option predicted
worse than what runs now on that objective is not advised; the advice says which objective it was judged on.

Severity follows impact: `nvlink_slowdown_pct` is the predicted cost now against the same TP on this SKU's
healthy NVLink (the worse of one stream and the loaded concurrency). A pair whose NVLink is *down* sends
traffic over PCIe (TPD200, critical); a pair that kept some NVLinks is *degraded*, and the rules compare its
slowdown with a stated threshold (TPD200 above it, TPD220 below it; docs/costmodel.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.advice import objective, scheduler, uncertainty
from tpdoctor.advice.costmodel import Prediction
from tpdoctor.advice.objective import Option
from tpdoctor.engine.schema import INT, B, F, Fact, L, S

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment

COST_FACTS: dict[str, Fact] = {
    "down_pairs": Fact(L, "Pairs of the group whose NVLinks are all down: their traffic crosses PCIe, described.",
                       True),
    "degraded_pairs": Fact(L, "Pairs of the group still on NVLink with fewer links than expected, described.",
                           True),
    "nvlink_slowdown_pct": Fact(F, "Predicted cost now over the same TP on this SKU's healthy NVLink, % (the "
                                   "worse of one stream and the concurrency; 0 when the group is healthy).", True),
    "nvlink_slowdown_low_pct": Fact(F, "nvlink_slowdown_pct at the favourable end of the 80% interval of a ratio "
                                       "of two predictions (docs/costmodel.md): a degraded bond is critical only "
                                       "when even this is at least the line.", True),
    "objective": Fact(S, "What the deployment is judged on: latency (ms/token of one stream) or throughput "
                         "(tokens/s of all streams at `concurrency`)."),
    "objective_stated": Fact(B, "The manifest states an objective (latency_objective_ms or "
                                "throughput_objective_tps); false: judged on throughput by default."),
    "objective_text": Fact(S, "The objective in words, e.g. throughput at 8 concurrent streams."),
    "throughput_objective_tps": Fact(F, "Throughput objective, output tokens/s of all streams.", True),
    "concurrency": Fact(INT, "Concurrent streams the throughput judgement assumes: max_num_seqs, else "
                             f"{objective.DEFAULT_CONCURRENCY}."),
    "tokens_per_s_loaded": Fact(F, "Predicted tokens/s now at the concurrency.", True),
    "per_token_ms_loaded": Fact(F, "Predicted ms per token of one stream now at the concurrency.", True),
    "tp1_tokens_per_s_loaded": Fact(F, "The same as TP=1 replicas (the concurrency spread over them).", True),
    "better_tokens_per_s_loaded": Fact(F, "The same on the better group.", True),
    "meets_objective": Fact(B, "Now meets the stated objective (true when none is stated).", True),
    "move_not_slower": Fact(B, "The better group is predicted no worse than now on the objective.", True),
    "move_call": Fact(S, "The better group against now on the objective, across the interval: better, close "
                         "(too close to call) or worse.", True),
    "replicas_call": Fact(S, "TP=1 replicas against now in tokens/s at the concurrency, across the interval: "
                             "better, close or worse.", True),
    "replicas_advisable": Fact(B, "TP=1 replicas fit one GPU each, meet the stated objective and serve more "
                                  "tokens/s than now at the concurrency across the interval.", True),
}


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def _option(a: Assessment, key: str, single: Prediction | None) -> Option | None:
    loaded = a.loaded.get(key)
    return Option(single, loaded) if single is not None and loaded is not None else None


def replicas_call(a: Assessment, against: str = "current") -> str | None:
    """TP=1 replicas against the group `against` (current | best_prediction) in tokens/s at the concurrency:
    better, close or worse across the interval (None when the numbers are not known)."""
    obj = a.objective or objective.of(None, None, a.deployment.max_num_seqs)
    base = _option(a, against, a.current if against == "current" else a.best_prediction)
    rep = _option(a, "replicas", a.replicas)
    if base is None or rep is None:
        return None
    return objective.call(objective.throughput_view(obj), base, rep)


def replicas_advisable(a: Assessment, against: str = "current") -> bool | None:
    """TP=1 replicas fit one GPU, meet the stated objective and serve more tokens/s at the concurrency than the
    group `against` across the interval; None when the numbers are not known."""
    return _advisable(a, replicas_call(a, against))


def _advisable(a: Assessment, c: str | None) -> bool | None:
    """replicas_advisable, given replicas_call's answer `c`."""
    obj = a.objective or objective.of(None, None, a.deployment.max_num_seqs)
    rep = _option(a, "replicas", a.replicas)
    fits = a.memory_tp1.fits if a.memory_tp1 is not None else None
    if c is None or rep is None or fits is None:
        return None
    return bool(fits and objective.meets(obj, rep) and c == "better")


def costs(a: Assessment) -> dict[str, Any]:
    obj = a.objective or objective.of(None, None, a.deployment.max_num_seqs)
    now, nv = _option(a, "current", a.current), _option(a, "nvlink_reference", a.nvlink_reference)
    best, rep = _option(a, "best_prediction", a.best_prediction), _option(a, "replicas", a.replicas)
    slowdown: float | None = None
    if now is not None and nv is not None:
        slowdown = max(now.latency_ms / nv.latency_ms, nv.tokens_per_s / now.tokens_per_s) * 100 - 100
    elif now is not None and not a.broken_pairs:
        slowdown = 0.0
    low = None if slowdown is None else (1 + slowdown / 100) / uncertainty.ratio_band()[1] * 100 - 100
    rep_call = replicas_call(a)
    return {
        "down_pairs": list(a.down_pairs) if a.group else None,
        "degraded_pairs": list(a.degraded_pairs) if a.group else None,
        "nvlink_slowdown_pct": _r(max(slowdown, 0.0), 1) if slowdown is not None else None,
        "nvlink_slowdown_low_pct": _r(max(low, 0.0), 1) if low is not None else None,
        "objective": obj.kind, "objective_stated": obj.stated, "objective_text": obj.describe(),
        "throughput_objective_tps": obj.tokens_per_s, "concurrency": obj.concurrency,
        "tokens_per_s_loaded": _r(now.tokens_per_s, 1) if now else None,
        "per_token_ms_loaded": _r(now.loaded.per_token_ms) if now else None,
        "tp1_tokens_per_s_loaded": _r(rep.tokens_per_s, 1) if rep else None,
        "better_tokens_per_s_loaded": _r(best.tokens_per_s, 1) if best else None,
        "meets_objective": objective.meets(obj, now) if now else None,
        "move_not_slower": objective.not_worse(obj, now, best) if now and best else None,
        "move_call": objective.call(obj, now, best) if now and best else None,
        "replicas_call": rep_call,
        "replicas_advisable": _advisable(a, rep_call),
    }


def advice(a: Assessment, f: dict[str, Any]) -> dict[str, Any]:
    """move_advice, replica_advice and advice: an option is recommended only when it is better than now on the
    objective across the interval; one too close to call is said so with both numbers."""
    obj = a.objective or objective.of(None, None, a.deployment.max_num_seqs)
    now, best, rep = (_option(a, "current", a.current), _option(a, "best_prediction", a.best_prediction),
                      _option(a, "replicas", a.replicas))
    move = None
    if a.best is not None:
        verdict = f["move_call"] or "better"  # objective.call(obj, now, best) when both are predicted
        if verdict == "better":
            move = f"move it to {a.best.label} ({a.best.weakest_path})"
            if now is not None and best is not None:
                move += (f": {objective.compare_text(obj, now, best)} (all-reduce "
                         f"{best.single.allreduce_ms_per_token:.2f} vs {now.single.allreduce_ms_per_token:.2f} "
                         "ms of it)")
        elif verdict == "close" and now is not None and best is not None:
            move = objective.close_text(obj, now, best, f"{a.best.label} ({a.best.weakest_path})")
    replica = _replica_advice(a, f, now, rep, obj)
    options = [x for x in (move, replica) if x]
    d = a.deployment
    if not options and now is not None and d.tp > 1:
        alt = (f" (TP=1 × {d.tp} replicas: est. {rep.tokens_per_s:.0f} vs {now.tokens_per_s:.0f} tok/s now, "
               f"{rep.latency_ms:.2f} vs {now.latency_ms:.2f} ms/token)" if rep is not None else "")
        options = [f"no other option on this node is predicted better on {obj.describe()}{alt}; move "
                   "latency-critical models to an NVLink node"]
    return {"move_advice": move, "replica_advice": replica,
            "advice": "; or ".join(options) if options else None}


def _replica_advice(a: Assessment, f: dict[str, Any], now: Option | None, rep: Option | None,
                    obj: objective.Objective) -> str | None:
    d = a.deployment
    if not (d.tp > 1 and f["fits_one_gpu"] and a.memory_tp1 is not None) or f["replicas_advisable"] is False:
        if f.get("replicas_call") == "close" and now is not None and rep is not None and f["fits_one_gpu"]:
            close = objective.close_text(objective.throughput_view(obj), now, rep, f"TP=1 × {d.tp} replicas")
            fits = _fits_one(a, f)
            return f"{close} ({fits})" if fits else close
        return None
    where = (" on " + " and ".join(f"GPU{i}" for i in a.gpus)) if a.gpus else ""
    replica = f"run TP=1 × {d.tp} replicas{where}: {_fits_one(a, f)}"
    if now is not None and rep is not None:
        replica += f"; {objective.compare_text(objective.throughput_view(obj), now, rep)}"
    return replica


def _fits_one(a: Assessment, f: dict[str, Any]) -> str | None:
    """`26.6 GiB of fp8 weights (61.0 GiB with KV cache and overhead) fit one … GPU (…)`, when all are known."""
    keys = ("weights_gib", "per_gpu_gib_tp1", "gpu_memory_gib", "capacity_gib")
    if not all(isinstance(f.get(k), (int, float)) for k in keys):
        return None
    return (f"{f['weights_gib']:.1f} GiB of {a.dtype} weights ({f['per_gpu_gib_tp1']:.1f} GiB with KV cache and "
            f"overhead) fit one {a.gpu_name or ''} GPU ({f['gpu_memory_gib']:.1f} GiB, {f['capacity_gib']:.1f} GiB "
            "usable)")


def unknown_reasons(a: Assessment, f: dict[str, Any]) -> dict[str, str]:
    """Why cost facts are missing (the first reason that applies); `f`: the facts costs() gave."""
    out: dict[str, str] = {}
    if a.spec is None or a.sku is None:
        why = "model architecture not known" if a.spec is None else f"GPU {a.gpu_name!r} is not in data/gpus.yaml"
        for k in ("nvlink_slowdown_pct", "tokens_per_s_loaded", "per_token_ms_loaded", "tp1_tokens_per_s_loaded",
                  "meets_objective", "replicas_advisable"):
            out[k] = why
    if a.group is None:
        for k in ("down_pairs", "degraded_pairs", "nvlink_slowdown_pct", "tokens_per_s_loaded", "per_token_ms_loaded",
                  "meets_objective"):
            out.setdefault(k, group_reason(a))
    if a.sku is not None and not (a.sku.has_nvlink and a.sku.nvlink.expected):
        out.setdefault("nvlink_slowdown_pct", f"{a.sku.key} has no NVLink to compare with")
    if a.sets is not None and a.sets.total is None:
        for k in ("scheduler_sets", "scheduler_bad_sets", "scheduler_down_sets", "scheduler_all_down"):
            out[k] = (f"more groups of {a.sets.size} GPUs than tpdoctor counts ({scheduler.MAX_ENUMERATED}), with "
                      f"more weaker pairs ({len(a.sets.bad_pairs)}) than it counts by ({scheduler.MAX_EDGES})")
    if "replicas_advisable" not in out and f["replicas_advisable"] is None:  # every null fact says why
        out["replicas_advisable"] = _advisable_reason(a)
    return out


def group_reason(a: Assessment) -> str:
    """Why the deployment's GPU group is not known."""
    d = a.deployment
    if d.host_gpus is not None and a.gpus is None:
        return next((n for n in a.notes if " is not on " in n), "its pinned GPUs are not on this node")
    if d.gpus_needed > 1 and a.sets is None and d.placement == "scheduler":
        return "GPUs picked by the scheduler, and the node has too few free GPUs to count its choices"
    if d.placement == "unknown":
        return "GPUs chosen outside the file (a variable, or `docker run` flags it cannot show)"
    return "GPUs not pinned: the scheduler picks them"


def _advisable_reason(a: Assessment) -> str:
    if a.current is None or "current" not in a.loaded:
        return group_reason(a) if a.group is None else "the current group's speed is not predicted"
    if a.replicas is None or "replicas" not in a.loaded:
        return "TP=1 replicas are not predicted"
    return "whether TP=1 fits one GPU is not known (GPU memory not read)"

