"""One `Deployment`: how a TP job is placed, whatever manifest it came from, and where each value was read.

Readers (`jobfile`, `k8s`, `compose`, `cmdline`) all produce this shape; facts, rules and `--fix` read only
this. `origins` maps a field name to the exact text it came from (file, line, column, text) so errors can
point at it and `--fix` can rewrite that text in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ENGINES = ("vllm", "sglang", "tgi", "trtllm")


@dataclass(frozen=True)
class Origin:
    """Where a value was read: `text` is the exact source text at `line`, searched from `col`."""

    file: str
    line: int | None = None
    col: int = 0
    text: str | None = None  # None: not rewritable in place (e.g. a default)
    fmt: str = "value"  # value | flag: `text` is "<flag><sep><value>" inside a command string
    end_col: int | None = None  # end of a single-line YAML node (to rewrite a flow list like [0, 1])

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Deployment:
    name: str
    engine: str  # vllm | sglang | tgi | trtllm | unknown
    model: str
    kind: str  # job | Pod | Deployment | StatefulSet | LeaderWorkerSet | compose | cmdline
    source: str  # file the deployment was read from
    dtype: str | None = None  # weights dtype or quantisation as written (normalised later)
    kv_cache_dtype: str | None = None
    tp: int = 1
    pp: int = 1
    replicas: int = 1  # independent copies (k8s replicas, data-parallel size)
    nodes: int = 1  # nodes one replica spans (LeaderWorkerSet size, multi-node job)
    node: str | None = None  # host the deployment runs on, when pinned
    gpus: tuple[int, ...] | None = None  # physical GPU indices it is pinned to (CUDA_VISIBLE_DEVICES …)
    gpu_uuids: tuple[str, ...] = ()  # when pinned by UUID: resolved against the topology later
    gpu_count: int | None = None  # GPUs requested (nvidia.com/gpu, compose count) when not pinned
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    gpu_memory_utilization: float | None = None
    latency_objective_ms: float | None = None  # per output token (TPOT) objective
    throughput_objective_tps: float | None = None  # output tokens/s of all its streams (at max_num_seqs)
    env: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # contradictions and things read but not understood

    @property
    def label(self) -> str:
        return f"deployment {self.name}"

    @property
    def gpus_needed(self) -> int:
        """GPUs one replica uses on one node: TP × PP, divided over the nodes it spans."""
        return max(1, self.tp * self.pp // max(self.nodes, 1))

    def origin(self, fieldname: str) -> Origin:
        return self.origins.get(fieldname) or Origin(self.source)

    def with_values(self, **changes: Any) -> Deployment:
        return replace(self, **changes)


def parse_gpu_list(text: str) -> tuple[tuple[int, ...] | None, tuple[str, ...], str | None]:
    """`"0,1"` -> ((0, 1), (), None); `"GPU-ab…,GPU-cd…"` -> (None, uuids, None); `all`/`none`/`void` ->
    (None, (), reason). Anything else -> (None, (), a note)."""
    t = str(text).strip()
    low = t.lower()
    if low in ("all", ""):
        return None, (), "all GPUs"
    if low in ("none", "void", "-1"):
        return (), (), "no GPUs"
    parts = [p.strip() for p in t.split(",") if p.strip()]
    if all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts), (), None
    if all(p.upper().startswith(("GPU-", "MIG-")) for p in parts):
        return None, tuple(parts), None
    return None, (), f"cannot read GPU list {t!r}"
