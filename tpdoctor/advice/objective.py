"""What a deployment is judged on, and the test every recommendation must pass: not slower than what runs now
on that objective.

- **latency**: ms per output token of one stream (`latency_objective_ms`), judged at batch 1 — what tensor
  parallelism buys;
- **throughput**: output tokens/s of all streams (`throughput_objective_tps`), judged at the deployment's
  concurrency: `max_num_seqs` when the manifest states it, else `DEFAULT_CONCURRENCY` streams per TP group.
  At that concurrency a TP=N group runs C streams at once, while N TP=1 replicas run C/N streams each;
- no objective stated: judged on throughput (the reason TP=1 replicas are ever advised), and the advice says
  so and what the per-stream latency becomes.

At low concurrency a TP group is faster *and* serves more tokens/s than TP=1 replicas (each replica idles on
its own weights); replicas win throughput only once the batch is large enough that the TP group's all-reduces
and per-layer costs outweigh the replicas' longer weight reads — the crossover this module lets the cost model
decide instead of assuming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpdoctor.advice import uncertainty
from tpdoctor.advice.costmodel import Prediction

DEFAULT_CONCURRENCY = 32  # streams per TP group when the manifest states no max_num_seqs (an assumption)
TIE = 0.005  # options within 0.5% are "the same" (the model is not that precise)


@dataclass(frozen=True)
class Objective:
    kind: str  # latency | throughput
    stated: bool  # False: no objective in the manifest (judged on throughput by default)
    latency_ms: float | None = None
    tokens_per_s: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    concurrency_stated: bool = False

    def describe(self) -> str:
        if self.kind == "latency":
            return f"per-token latency objective {self.latency_ms:g} ms" if self.latency_ms else "per-token latency"
        conc = f"{self.concurrency} concurrent streams" + ("" if self.concurrency_stated else " (assumed)")
        if self.tokens_per_s:
            return f"throughput objective {self.tokens_per_s:g} tok/s at {conc}"
        return f"throughput at {conc}" + ("" if self.stated else ", no objective stated")


def of(latency_ms: float | None, tokens_per_s: float | None, max_num_seqs: int | None) -> Objective:
    """The objective a manifest states (a latency objective wins when both are given: it is the stricter)."""
    conc = max_num_seqs if max_num_seqs and max_num_seqs > 0 else DEFAULT_CONCURRENCY
    if latency_ms:
        return Objective("latency", True, latency_ms=latency_ms, tokens_per_s=tokens_per_s, concurrency=conc,
                         concurrency_stated=bool(max_num_seqs))
    return Objective("throughput", tokens_per_s is not None, tokens_per_s=tokens_per_s, concurrency=conc,
                     concurrency_stated=bool(max_num_seqs))


@dataclass(frozen=True)
class Option:
    """One way to run the deployment: its single-stream prediction and its prediction at the concurrency."""

    single: Prediction  # batch 1 per group
    loaded: Prediction  # the concurrency spread over its groups

    @property
    def latency_ms(self) -> float:
        return self.single.per_token_ms

    @property
    def tokens_per_s(self) -> float:
        return self.loaded.tokens_per_s_total


def throughput_view(obj: Objective) -> Objective:
    """The same deployment judged on throughput (how replica advice is always priced)."""
    return Objective("throughput", obj.stated, tokens_per_s=obj.tokens_per_s, concurrency=obj.concurrency,
                     concurrency_stated=obj.concurrency_stated)


def per_group_batch(concurrency: int, groups: int) -> int:
    """Streams each of `groups` independent groups runs when `concurrency` streams are spread over them."""
    return max(1, math.ceil(concurrency / max(groups, 1)))


def value(obj: Objective, opt: Option) -> float:
    """The number the objective compares (lower is better: ms/token, or −tok/s)."""
    return opt.latency_ms if obj.kind == "latency" else -opt.tokens_per_s


def not_worse(obj: Objective, now: Option, alt: Option) -> bool:
    return value(obj, alt) <= value(obj, now) + abs(value(obj, now)) * TIE


def call(obj: Objective, now: Option, alt: Option) -> str:
    """'better', 'worse' or 'close': `alt` against `now` on the objective, across the interval of a ratio of
    two predictions (advice/uncertainty.py). Only 'better' may be recommended; 'close' is said as such."""
    return {"a": "better", "b": "worse"}.get(uncertainty.call(value(obj, alt), value(obj, now)), "close")


def close_text(obj: Objective, now: Option, alt: Option, what: str) -> str:
    """`GPU2+GPU3 and now are too close to call on …: est. … vs … now`."""
    return f"{what} and what runs now are too close to call on {obj.describe()}: {compare_text(obj, now, alt)}"


def meets(obj: Objective, opt: Option) -> bool:
    """The option meets the stated target (always true when none is stated)."""
    if obj.kind == "latency" and obj.latency_ms:
        return opt.latency_ms <= obj.latency_ms
    if obj.kind == "throughput" and obj.tokens_per_s:
        return opt.tokens_per_s >= obj.tokens_per_s
    return True


def compare_text(obj: Objective, now: Option, alt: Option) -> str:
    """`est. 5.90 vs 9.12 ms/token now` or `est. 1950 vs 1210 tok/s now at 8 streams` (with the 80% interval
    of the option's own prediction)."""
    lo, hi = alt.single.per_token_ms_low, alt.single.per_token_ms_high
    band = f" ({lo:.2f}-{hi:.2f})" if hi > lo else ""
    if obj.kind == "latency":
        return f"est. {alt.latency_ms:.2f}{band} vs {now.latency_ms:.2f} ms/token now"
    slow, fast = alt.loaded.tokens_per_s_range if alt.loaded.per_token_ms_low else (0.0, 0.0)
    tband = f" ({slow:.0f}-{fast:.0f})" if fast > slow else ""
    return (f"est. {alt.tokens_per_s:.0f}{tband} vs {now.tokens_per_s:.0f} tok/s now at {obj.concurrency} streams, "
            f"{alt.latency_ms:.2f} vs {now.latency_ms:.2f} ms/token for one stream")
