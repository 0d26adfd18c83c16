"""What to do about a TP group that spans nodes, chosen on the deployment's objective.

Three ways to run a model on S nodes of G GPUs each (TP = S × G across nodes now):
- **keep** TP across nodes: every layer all-reduces twice over the network (47 µs latency each at best);
- **TP=G × PP=S**: TP inside each node, one activation send per stage boundary per token. One stream goes
  through every stage in turn (its latency is the whole model at TP=G plus the sends); with S micro-batches in
  flight the stages work in parallel, so at a concurrency C it serves about C / t(TP=G, batch C/S) tokens/s;
- **S replicas of TP=G**, one per node, when the model fits one node: the same tokens/s as PP without the
  sends or the pipeline bubbles, the same single-stream latency as PP without the sends, and nodes that fail
  apart. When it fits, replicas are never worse than PP; PP is the answer only when it does not fit.
The recommendation is the option best on the objective (ms/token of one stream, or tokens/s at the
concurrency); when keeping TP across nodes is predicted best, TPD221 says so and why instead of TPD203
advising something slower.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.advice import costmodel, engines, objective
from tpdoctor.advice.objective import Option
from tpdoctor.engine.schema import B, F, Fact, S

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment

CHOICE_FACTS: dict[str, Fact] = {
    "node_replicas_fit": Fact(B, "The model fits one node at TP = GPUs per node (weights + KV + overhead).", True),
    "node_replica_per_token_ms": Fact(F, "ms/token of one stream as one TP=pp_tp replica per node.", True),
    "net_tokens_per_s_loaded": Fact(F, "tokens/s at the concurrency with TP across nodes (now).", True),
    "pp_tokens_per_s_loaded": Fact(F, "tokens/s at the concurrency as TP=pp_tp × PP=pp_stages.", True),
    "node_replica_tokens_per_s_loaded": Fact(F, "tokens/s at the concurrency as pp_stages replicas of TP=pp_tp.",
                                             True),
    "cross_node_choice": Fact(S, "Best option on the objective: replicas (one TP group per node), pp (TP inside, "
                                 "PP across) or keep (TP across nodes is predicted best).", True),
    "cross_node_advice": Fact(S, "The chosen option with its predicted numbers and the objective it was judged "
                                 "on.", True),
}


def choose(a: Assessment, net: costmodel.GroupPath, local: costmodel.GroupPath | None, pp_tp: int,
           stages: int) -> dict[str, Any]:
    """The cross-node options' numbers and the choice (facts pp_per_token_ms … cross_node_advice)."""
    assert a.spec is not None and a.sku is not None
    d = a.deployment
    obj = a.objective or objective.of(d.latency_objective_ms, d.throughput_objective_tps, d.max_num_seqs)
    eng = engines.engine(d.engine)

    def opt(tp: int, path: costmodel.GroupPath | None, groups: int) -> Option:
        kw = dict(dtype=a.dtype, sku=a.sku, engine=eng, tp=tp, path=path if tp > 1 else None, replicas=groups)
        batch = objective.per_group_batch(obj.concurrency, groups)
        return Option(costmodel.predict(a.spec, **kw),  # type: ignore[arg-type]
                      costmodel.predict(a.spec, batch=batch, **kw))  # type: ignore[arg-type]

    now, inside = opt(d.tp, net, 1), opt(pp_tp, local, stages)
    send_ms = (stages - 1) * (net.latency_us + a.spec.hidden * costmodel.ACT_BYTES / (net.bw_gbps * 1e9) * 1e6) / 1e3
    pp = Option(_plus(inside.single, send_ms, 1), _plus(inside.loaded, send_ms * 1, stages))
    fits = a.min_tp is not None and a.min_tp <= pp_tp
    candidates = [("replicas", inside)] if fits else []
    candidates.append(("pp", pp))
    name, best = min(candidates, key=lambda c: objective.value(obj, c[1]))
    verdict = objective.call(obj, now, best)
    choice = name if verdict == "better" else "keep"
    out = {
        "pp_per_token_ms": round(pp.latency_ms, 2), "pp_net_ms_per_token": round(send_ms, 2),
        "node_replicas_fit": fits, "node_replica_per_token_ms": round(inside.latency_ms, 2) if fits else None,
        "net_tokens_per_s_loaded": round(now.tokens_per_s, 1), "pp_tokens_per_s_loaded": round(pp.tokens_per_s, 1),
        "node_replica_tokens_per_s_loaded": round(inside.tokens_per_s, 1) if fits else None,
        "cross_node_choice": choice,
    }
    out["cross_node_advice"] = _advice(choice, obj, now, best, pp_tp, stages, d.engine, name, verdict == "close")
    return out


def _plus(p: costmodel.Prediction, send_ms: float, groups: int) -> costmodel.Prediction:
    """A prediction with the pipeline's sends added to each token (tokens/s over `groups` micro-batches)."""
    from dataclasses import replace

    step = p.per_token_ms + send_ms
    return replace(p, per_token_ms=step, tokens_per_s_per_stream=1e3 / step,
                   tokens_per_s_total=p.batch * groups * 1e3 / step)


def _advice(choice: str, obj: objective.Objective, now: Option, best: Option, pp_tp: int, stages: int,
            engine: str, best_name: str, close: bool = False) -> str:
    judged = f"judged on {obj.describe()}"
    if choice == "replicas":
        return (f"run {stages} replicas of TP={pp_tp}, one per node (the model fits one node): "
                f"{objective.compare_text(obj, now, best)}; {judged}")
    if choice == "pp":
        flags = (f" (vLLM: --tensor-parallel-size {pp_tp} --pipeline-parallel-size {stages})"
                 if engine == "vllm" else "")
        return (f"keep TP inside a node and pipeline across nodes: TP={pp_tp} with PP={stages}{flags}; "
                f"{objective.compare_text(obj, now, best)}; {judged}")
    alt = f"{stages} replicas of TP={pp_tp}" if best_name == "replicas" else f"TP={pp_tp} × PP={stages}"
    if obj.kind == "latency":
        nums = f"{now.latency_ms:.2f} ms/token vs {best.latency_ms:.2f} for {alt}"
    else:
        nums = f"{now.tokens_per_s:.0f} tok/s vs {best.tokens_per_s:.0f} for {alt} at {obj.concurrency} streams"
    if close:
        return f"TP across nodes and {alt} are too close to call: {nums}; {judged}"
    return f"TP across nodes is predicted best here: {nums}; {judged}"
