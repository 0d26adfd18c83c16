"""One `Deployment`: how a TP job is placed, whatever manifest it came from, and where each value was read.

Readers (`jobfile`, `k8s`, `compose`, `cmdline`, the custom resources) all produce this shape; facts, rules
and `--fix` read only this. `origins` maps a field name to the exact text it came from (file, line, column,
text) so errors can point at it and `--fix` can rewrite that text in place. A value the file does not
determine (a variable it never sets, TGI's shard count without the GPU count) is in `unknown` with the
reason in words, never a default that hides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpdoctor.model import frozen

ENGINES = ("vllm", "sglang", "tgi", "trtllm")


@dataclass(frozen=True)
class Origin:
    """Where a value was read: `text` is the exact source text at `line`, searched from `col`."""

    file: str
    line: int | None = None
    col: int = 0
    text: str | None = None  # None: not rewritable in place (e.g. a default)
    fmt: str = "value"  # value | flag: "<flag><sep><value>" in a command string | ref: read through a variable
    end_col: int | None = None  # end of a single-line YAML node (to rewrite a flow list like [0, 1])

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    @property
    def rewritable(self) -> bool:
        """`--fix` may edit this text in place (not a default, not a value reached through a variable)."""
        return self.fmt != "ref" and self.line is not None


@dataclass(frozen=True)
class Deployment:
    name: str
    engine: str  # vllm | sglang | tgi | trtllm
    model: str
    kind: str  # job | Pod | Deployment | StatefulSet | LeaderWorkerSet | compose | cmdline | a custom resource kind
    source: str  # file the deployment was read from
    dtype: str | None = None  # weights dtype or quantisation as written (normalised later): quantization or dtype
    quantization: str | None = None  # the engine's quantisation flag as written (--quantization, TGI --quantize)
    engine_dtype: str | None = None  # the engine's --dtype as written (vLLM/SGLang/TGI: the activation dtype)
    kv_cache_dtype: str | None = None
    tp: int = 1
    pp: int = 1
    replicas: int = 1  # independent copies (k8s replicas × data-parallel size)
    nodes: int = 1  # nodes one copy spans (LeaderWorkerSet size, multi-node job)
    node: str | None = None  # host the deployment runs on, when pinned
    gpus: tuple[int, ...] | None = None  # GPU indices it is given (CUDA_VISIBLE_DEVICES, device_ids …): see gpu_scope
    gpu_uuids: tuple[str, ...] = ()  # when pinned by UUID: resolved against the topology later
    gpu_count: int | None = None  # GPUs requested (nvidia.com/gpu, compose count) when not pinned
    # GPU models the file asks the scheduler for, any of which will do (SkyPilot accelerators, dstack gpu, a
    # nodeSelector on nvidia.com/gpu.product or GKE's gke-accelerator), as written: model/gpunames.py reads them
    gpu_asked: tuple[str, ...] = ()
    max_model_len: int | None = None  # longest sequence (vLLM max_model_len, SGLang context_length, TRT max_seq_len)
    max_num_seqs: int | None = None  # concurrency asked (max_num_seqs, max-running-requests, max_batch_size …)
    gpu_memory_utilization: float | None = None  # vLLM (job.yaml: the engine's own memory fraction)
    latency_objective_ms: float | None = None  # per output token (TPOT) objective
    throughput_objective_tps: float | None = None  # output tokens/s of all its streams (at max_num_seqs)
    env: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # contradictions and things read but not understood
    # the engines' own parallelism and memory knobs (None: the engine's default)
    dp: int = 1  # data-parallel size inside one engine (already counted in `replicas`)
    ep: bool | int = False  # expert parallelism: off, on (True: the engine sizes it) or a size
    mem_fraction_static: float | None = None  # SGLang
    cuda_memory_fraction: float | None = None  # TGI
    kv_cache_free_fraction: float | None = None  # TensorRT-LLM kv_cache_free_gpu_memory_fraction
    max_total_tokens: int | None = None  # SGLang: KV pool cap; TGI: longest request (input + output)
    max_batch_total_tokens: int | None = None  # TGI
    max_batch_prefill_tokens: int | None = None  # TGI
    max_num_batched_tokens: int | None = None  # vLLM max_num_batched_tokens, TRT-LLM max_num_tokens, SGLang chunk
    kv_cache_memory_bytes: int | None = None  # vLLM --kv-cache-memory-bytes (KV per GPU, util ignored)
    cpu_offload_gb: float | None = None
    enforce_eager: bool = False
    fail_fast: bool = False  # TensorRT-LLM --fail_fast_on_attention_window_too_large
    shards_from_visible_gpus: bool = False  # TGI without --num-shard: one shard per visible GPU
    unknown: dict[str, str] = field(default_factory=dict)  # field -> why the file does not determine it
    unresolved: tuple[str, ...] = ()  # variables the values above need and the file never sets
    key: str = ""  # identity unique per run: file:line (+ #n for a second deployment on one line)
    # How its GPUs are chosen: pinned (the file names host GPUs), all (it sees every GPU of the
    # node and the engine takes the first TP × PP), scheduler (a device plugin, Slurm or Ray hands out
    # `gpu_count`), unknown (decided outside the file: a variable, `docker run` flags a Dockerfile cannot show)
    placement: str = "unknown"
    gpu_scope: str | None = None  # whose indices `gpus` are: host, or container (of the set it was handed)
    runtime: str = ""  # what starts it: kubernetes, compose, docker, shell, slurm, ray, skypilot, dstack, job …
    profiles: tuple[str, ...] = ()  # compose profiles: services of different profiles never run together
    # started by a script: (the script, its place among its launches, the script waits for it to exit first)
    step: tuple[str, int, bool] | None = None
    engine_dir: str | None = None  # a prebuilt TensorRT-LLM engine it serves: TP and PP are fixed in its config.json

    @property
    def label(self) -> str:
        return f"deployment {self.name}"

    @property
    def ident(self) -> str:
        """The deployment's identity: its key, else file:line of its launch (or its TP, or model, value)."""
        if self.key:
            return self.key
        o = next((o for o in (self.origins.get(k) for k in ("entry", "tp", "model")) if o and o.line), None)
        return o.where() if o is not None else self.source

    @property
    def host_gpus(self) -> tuple[int, ...] | None:
        """The node's GPUs it is pinned to, when the file names them as host indices."""
        return self.gpus if self.gpus is not None and self.gpu_scope != "container" else None

    @property
    def gpus_needed(self) -> int:
        """GPUs one replica uses on one node: TP × PP, divided over the nodes it spans."""
        return max(1, self.tp * self.pp // max(self.nodes, 1))

    def origin(self, fieldname: str) -> Origin:
        return self.origins.get(fieldname) or Origin(self.source)

    def with_values(self, **changes: Any) -> Deployment:
        return frozen.replace(self, **changes)  # dataclasses.replace without 50 frozen stores


def parse_gpu_list(text: str) -> tuple[tuple[int, ...] | None, tuple[str, ...], str | None]:
    """`"0,1"` -> ((0, 1), (), None); `"GPU-ab…,GPU-cd…"` -> (None, uuids, None); `all`/`none`/`void` ->
    (None, (), reason). Anything else -> (None, (), a note). A repeated or absurd index is a note too."""
    t = str(text).strip()
    low = t.lower()
    if low in ("all", ""):
        return None, (), "all GPUs"
    if low in ("none", "void", "-1"):
        return (), (), "no GPUs"
    parts = [p.strip() for p in t.split(",") if p.strip()]
    if all(p.isdigit() for p in parts):
        if any(len(p) > 4 for p in parts):
            return None, (), f"GPU list {t[:40]!r}: an index above 9999 is not a GPU"
        idx = tuple(int(p) for p in parts)
        if len(set(idx)) != len(idx):
            dup = next(i for n, i in enumerate(idx) if i in idx[:n])
            return None, (), f"GPU list {t!r} names GPU {dup} twice"
        return idx, (), None
    if all(p.upper().startswith(("GPU-", "MIG-")) for p in parts):
        if len(set(p.lower() for p in parts)) != len(parts):
            return None, (), f"GPU list {t[:60]!r} names a GPU twice"
        return None, tuple(parts), None
    return None, (), f"cannot read GPU list {t!r}"
