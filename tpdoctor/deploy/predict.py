"""`tpdoctor predict`: the cost model's what-if face. The same functions check-deployment uses, with the
same defaults (memory is sized for the model's full context unless `max_model_len` says otherwise).

With a TP size: that TP over a path, and TP=1 × N replicas. Without one: the curve — every valid TP from 1
to 8 over the SKU's NVLink and over a PCIe server, and where TP stops paying (advice/curve.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdoctor.advice import costmodel, engines, quant
from tpdoctor.advice.curve import Curve, curve
from tpdoctor.advice.placement import PairTable
from tpdoctor.deploy.assess import tp_validity
from tpdoctor.llm import kvrules, models, precision
from tpdoctor.llm.kvrules import EngineMemory, Knobs
from tpdoctor.llm.models import ModelSpec
from tpdoctor.model import skus
from tpdoctor.model.errors import ManifestError
from tpdoctor.model.topology import Topology, normalize_path

CURVE_TPS = tuple(range(1, 9))


@dataclass(frozen=True)
class PredictRequest:
    model: str  # catalogue name or a config.json path
    tp: int | None = None  # None: the TP curve
    gpu: str | None = None  # SKU key or product name; taken from `topology` when None
    dtype: str | None = None
    batch: int = 1
    context: int = 1024
    path: str | None = None  # NV18, PHB, …; default: the SKU's NVLink, else PHB (or the group's weakest)
    topology: Topology | None = None
    gpus: tuple[int, ...] = ()
    busbw_gbps: float | None = None
    max_model_len: int | None = None
    engine: str | None = None  # data/engines.yaml: vllm | sglang | trtllm | tgi | lmdeploy | …
    eager: bool = False  # no CUDA graphs (--enforce-eager)
    model_config: Path | None = None  # a config.json (or model directory) read instead of the catalogue
    engine_version: str | None = None  # None: the current release
    kv_dtype: str = "bf16"
    prefill_tokens: float = 0.0  # other requests' prompt tokens prefilled inside each step (continuous batching)

    def engine_profile(self) -> engines.Engine:
        """The engine's profile; ValueError for a version that is not one (engines.engine reads it)."""
        return engines.engine(self.engine, eager=self.eager, version=self.engine_version)


@dataclass(frozen=True)
class PredictResult:
    spec: ModelSpec
    sku: skus.Sku
    dtype: str
    path: str
    request: PredictRequest
    predictions: tuple[costmodel.Prediction, ...]  # TP=N over the path, then TP=1 × N replicas
    memory: EngineMemory | None = None  # the engine's own memory rule at TP=N, as check-deployment sizes it


@dataclass(frozen=True)
class CurveResult:
    spec: ModelSpec
    sku: skus.Sku
    dtype: str
    request: PredictRequest
    curve: Curve
    valid_tp: tuple[int, ...]


def _resolve(req: PredictRequest) -> tuple[ModelSpec, skus.Sku, str, int, str | None, tuple[int, ...]]:
    """(spec, SKU, dtype, GPU memory MiB, path, group) or ManifestError / ValueError."""
    res = models.resolve_model(req.model, model_config=req.model_config)
    spec = res.spec
    if spec is None:
        raise ManifestError(res.note or f"model {req.model!r} is not in the catalogue",
                            hint="give --model-config PATH (its config.json), or a published repo id or catalogue "
                                 "name (docs/models.md)")
    problems = [] if req.tp is None else tp_validity(spec, req.tp) if req.tp >= 1 else [
        f"TP={req.tp} is not a TP size"]
    if problems:  # what check-deployment reports as TPD204: the engine refuses to start
        valid = ", ".join(str(k) for k in range(1, 65) if not tp_validity(spec, k))
        raise ManifestError(f"{spec.name}: {'; '.join(problems)}; the engine refuses to start",
                            hint=f"TP sizes {spec.name} allows: {valid}")
    gpu, path, group, memory_mib = req.gpu, req.path, req.gpus, None
    if req.topology is not None:
        topo = req.topology
        group = group or tuple(g.index for g in topo.gpus[:req.tp or 1])
        try:
            first = topo.gpu(group[0])
        except (KeyError, IndexError) as exc:
            raise ManifestError(f"GPU group {group}: {exc}") from None
        gpu = gpu or first.name
        memory_mib = first.memory_mib if isinstance(first.memory_mib, int) else None
        if path is None and len(group) > 1:
            path = PairTable(topo).group(group).weakest_path
    if gpu is None:
        raise ManifestError("no GPU: give --gpu SKU or --topology PATH")
    sku = skus.by_key(gpu)
    if sku is None:
        raise ManifestError(f"GPU {gpu!r} is not in data/gpus.yaml",
                            hint="known: " + ", ".join(s.key for s in skus.catalogue()))
    prec = precision.resolve(req.engine or "vllm", None, None, res)
    if not (req.dtype or prec.weights):
        raise ManifestError(f"{spec.name}: {prec.note or 'weights precision unknown'}", hint="give --dtype")
    dtype = quant.normalize(req.dtype or prec.weights)
    return spec, sku, dtype, memory_mib or int(sku.memory_gib * 1024), path, group


@dataclass(frozen=True)
class Plan:
    """What a prediction needs once the request is resolved (the benchmark reuses it across refits)."""

    spec: ModelSpec
    sku: skus.Sku
    dtype: str
    path: str
    group_path: costmodel.GroupPath
    group: tuple[int, ...]
    memory_mib: int
    common: dict[str, Any]


def plan(req: PredictRequest) -> Plan:
    """Resolve the request (model, GPU, dtype, the group's path, the engine's profile)."""
    spec, sku, dtype, memory_mib, path, group = _resolve(req)
    weak, _, local = (path or "").partition("/")  # SYS/NODE: the weakest pair's path / the ring's other links
    p = normalize_path(weak) if weak else (f"NV{sku.nvlink.expected}" if sku.has_nvlink and sku.nvlink.expected
                                           else "PHB")
    ring = normalize_path(local) if local else None
    gp = (costmodel.measured_path(p, req.busbw_gbps, ring) if req.busbw_gbps
          else costmodel.nominal_path(p, sku, local=ring))
    common = dict(dtype=dtype, sku=sku, batch=req.batch, context=req.context, engine=req.engine_profile(),
                  kv_dtype=req.kv_dtype, prefill_tokens=req.prefill_tokens)
    return Plan(spec, sku, dtype, p, gp, group, memory_mib, common)


def group_prediction(pl: Plan, tp: int, *, sized: bool = True) -> costmodel.Prediction:
    """TP=`tp` over the plan's path (memory sized for the GPU when `sized`)."""
    mem = dict(gpu_memory_mib=pl.memory_mib, max_model_len=None) if sized else {}
    return costmodel.predict(pl.spec, tp=tp, path=pl.group_path, gpus=pl.group, label=f"TP={tp} over {pl.path}",
                             **pl.common, **mem)  # type: ignore[arg-type]


def predict(req: PredictRequest) -> PredictResult:
    """Per-token latency, tokens/s and memory of the model at TP=N over a path and as TP=1 replicas.
    Raises ManifestError for an unknown model or GPU, ValueError for a bad dtype or path."""
    pl = plan(req)
    spec, sku, dtype, memory_mib, p = pl.spec, pl.sku, pl.dtype, pl.memory_mib, pl.path
    tp = req.tp or 1
    common = dict(pl.common, gpu_memory_mib=memory_mib, max_model_len=req.max_model_len)
    preds = [costmodel.predict(spec, tp=tp, path=pl.group_path, gpus=pl.group, label=f"TP={tp} over {p}",
                               **common)]
    if tp > 1:
        preds.append(costmodel.predict(spec, tp=1, path=None, replicas=tp, label=f"TP=1 × {tp} replicas",
                                       **common))
    knobs = Knobs(engine=req.engine or "vllm", dtype=quant.sizing_dtype(dtype), tp=tp, max_model_len=req.max_model_len,
                  enforce_eager=req.eager, kv_dtype=None if req.kv_dtype == "bf16" else req.kv_dtype)
    return PredictResult(spec, sku, dtype, p, req, tuple(preds), kvrules.engine_memory(spec, knobs, memory_mib))


def predict_curve(req: PredictRequest) -> CurveResult:
    """The TP curve of the model on the SKU (see the module docstring)."""
    spec, sku, dtype, memory_mib, _, _ = _resolve(req)
    valid = tuple(tp for tp in CURVE_TPS if not tp_validity(spec, tp))
    c = curve(spec, sku, dtype=dtype, tps=valid, batch=req.batch, context=req.context,
              engine=req.engine_profile(), gpu_memory_mib=memory_mib, kv_dtype=req.kv_dtype,
              max_model_len=req.max_model_len)
    return CurveResult(spec, sku, dtype, req, c, valid)
