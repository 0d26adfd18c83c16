"""`tpdoctor predict MODEL --gpu SKU --tp N`: the cost model's what-if face (check-deployment uses the same
functions): per-token latency, tokens/s per stream and in total, the all-reduce share of each token and
memory per GPU, for TP=N over a path and for TP=1 × N replicas."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tpdoctor.model.errors import ManifestError


@click.command("predict")
@click.argument("model")
@click.option("--gpu", "gpu", metavar="SKU", help="GPU SKU key or product name (e.g. h100-sxm, 'RTX 4090').")
@click.option("--tp", "tp", type=click.IntRange(1, 1024), required=True, help="Tensor-parallel size.")
@click.option("--dtype", "dtype", default=None, help="Weights dtype: fp32 bf16 fp16 fp8 int8 int4 awq gptq.")
@click.option("--batch", "batch", type=click.IntRange(1), default=1, show_default=True,
              help="Concurrent streams per group (decode batch).")
@click.option("--context", "context", type=click.IntRange(0), default=1024, show_default=True,
              help="Tokens of context each stream reads from the KV cache per step.")
@click.option("--path", "path", default=None, metavar="NV18|PHB|…",
              help="Path between the group's GPUs (default: the SKU's NVLink, else PHB).")
@click.option("--topology", "topology_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Take the GPU and the path from a node capture (with --gpus).")
@click.option("--gpus", "gpus", default=None, metavar="0,1", help="GPU indices of the group in --topology.")
@click.option("--busbw", "busbw", type=float, default=None, help="Measured all-reduce busbw, GB/s.")
@click.option("--max-model-len", "max_model_len", type=int, default=None, help="For the memory estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--explain", is_flag=True, help="Show the arithmetic.")
def command(model: str, gpu: str | None, tp: int, dtype: str | None, batch: int, context: int, path: str | None,
            topology_path: Path | None, gpus: str | None, busbw: float | None, max_model_len: int | None,
            as_json: bool, explain: bool) -> int:
    """Predict per-token decode latency and throughput of MODEL at TP=N, and as TP=1 replicas."""
    from tpdoctor.advice import costmodel
    from tpdoctor.llm import models, sizing
    from tpdoctor.model import skus
    from tpdoctor.model.codec import to_data
    from tpdoctor.model.topology import normalize_path

    spec = models.resolve(model)
    if spec is None:
        raise ManifestError(f"model {model!r}: not in the catalogue and not a config.json",
                            hint="known: " + ", ".join(models.catalogue_names()))
    memory_mib = None
    group = tuple(int(x) for x in gpus.split(",")) if gpus else ()
    if topology_path is not None:
        from tpdoctor.advice.placement import PairTable
        from tpdoctor.probes.replay import load

        topo = load(topology_path)
        if not group:
            group = tuple(g.index for g in topo.gpus[:tp])
        try:
            first = topo.gpu(group[0])
        except KeyError as exc:
            raise ManifestError(str(exc.args[0])) from None
        gpu = gpu or first.name
        memory_mib = first.memory_mib if isinstance(first.memory_mib, int) else None
        if path is None and len(group) > 1:
            path = PairTable(topo).group(group).weakest_path
    if gpu is None:
        raise click.UsageError("give --gpu SKU or --topology PATH")
    sku = skus.by_key(gpu)
    if sku is None:
        raise ManifestError(f"GPU {gpu!r} is not in data/gpus.yaml",
                            hint="known: " + ", ".join(s.key for s in skus.catalogue()))
    memory_mib = memory_mib or int(sku.memory_gib * 1024)
    try:
        d = sizing.normalize_dtype(dtype or models.quantization_hint(model) or spec.dtype)
        p = normalize_path(path) if path else (f"NV{sku.nvlink.expected}" if sku.has_nvlink and sku.nvlink.expected
                                               else "PHB")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    gp = costmodel.measured_path(p, busbw) if busbw else costmodel.nominal_path(p, sku)
    common = dict(dtype=d, hbm_tbps=sku.hbm_tbps, batch=batch, context=context, gpu_memory_mib=memory_mib,
                  max_model_len=max_model_len or min(spec.max_context, 8192))
    preds = [costmodel.predict(spec, tp=tp, path=gp, gpus=group, label=f"TP={tp} over {p}", **common)]  # type: ignore[arg-type]
    if tp > 1:
        preds.append(costmodel.predict(spec, tp=1, path=None, replicas=tp, label=f"TP=1 × {tp} replicas",
                                       **common))  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps({"model": spec.name, "gpu": sku.key, "dtype": d, "batch": batch, "path": p,
                               "predictions": to_data(preds)}, indent=2))
        return 0
    click.echo(f"{spec.name} ({spec.total_params() / 1e9:.1f}B params, {d}) on {sku.key}, batch {batch}, "
               f"context {context}" + (" [illustrative architecture]" if spec.illustrative else ""))
    for pr in preds:
        mem = pr.memory
        fit = ""
        if mem is not None and mem.capacity_bytes_per_gpu:
            fit = (f"; memory {sizing.gib(mem.per_gpu_bytes)} of "
                   f"{sizing.gib(mem.capacity_bytes_per_gpu)} per GPU"
                   + ("" if mem.fits else " (does NOT fit)"))
        click.echo(f"  {pr.label:24} {pr.per_token_ms:7.2f} ms/token  {pr.tokens_per_s_per_stream:7.1f} tok/s "
                   f"per stream  {pr.tokens_per_s_total:8.1f} tok/s total  all-reduce "
                   f"{pr.allreduce_ms_per_token:5.2f} ms ({pr.allreduce_share:.0%}){fit}")
        if explain:
            for line in pr.explain + (mem.explain if mem else ()):
                click.echo(f"      {line}")
    return 0
