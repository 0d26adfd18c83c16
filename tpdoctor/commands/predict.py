"""`tpdoctor predict MODEL --gpu SKU --tp N`: the cost model's what-if face (check-deployment uses the same
functions): per-token latency, tokens/s per stream and in total, the all-reduce share of each token and
memory per GPU, for TP=N over a path and for TP=1 × N replicas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tpdoctor.llm.sizing import gib
from tpdoctor.model.codec import to_data
from tpdoctor.node.read import read_node

if TYPE_CHECKING:
    from tpdoctor.deploy.predict import PredictResult


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
    from tpdoctor.deploy.predict import PredictRequest, predict

    if gpu is None and topology_path is None:
        raise click.UsageError("give --gpu SKU or --topology PATH")
    topology = read_node(topology_path).topology if topology_path is not None else None
    try:
        group = tuple(int(x) for x in gpus.split(",")) if gpus else ()
    except ValueError:
        raise click.BadParameter(f"{gpus!r} is not a comma list of GPU indices", param_hint="--gpus") from None
    try:
        result = predict(PredictRequest(model=model, tp=tp, gpu=gpu, dtype=dtype, batch=batch, context=context,
                                        path=path, topology=topology, gpus=group, busbw_gbps=busbw,
                                        max_model_len=max_model_len))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"model": result.spec.name, "gpu": result.sku.key, "dtype": result.dtype,
                               "batch": batch, "path": result.path, "predictions": to_data(list(result.predictions))},
                              indent=2))
        return 0
    render(result, explain)
    return 0


def render(result: PredictResult, explain: bool) -> None:
    spec, req = result.spec, result.request
    note = " [illustrative architecture]" if spec.illustrative else ""
    click.echo(f"{spec.name} ({spec.total_params() / 1e9:.1f}B params, {result.dtype}) on {result.sku.key}, "
               f"batch {req.batch}, context {req.context}{note}")
    for pr in result.predictions:
        mem = pr.memory
        fit = ""
        if mem is not None and mem.capacity_bytes_per_gpu:
            fit = (f"; memory {gib(mem.per_gpu_bytes)} of {gib(mem.capacity_bytes_per_gpu)} per GPU"
                   + ("" if mem.fits else " (does NOT fit)"))
        click.echo(f"  {pr.label:24} {pr.per_token_ms:7.2f} ms/token  {pr.tokens_per_s_per_stream:7.1f} tok/s "
                   f"per stream  {pr.tokens_per_s_total:8.1f} tok/s total  all-reduce "
                   f"{pr.allreduce_ms_per_token:5.2f} ms ({pr.allreduce_share:.0%}){fit}")
        if explain:
            for line in pr.explain + (mem.explain if mem else ()):
                click.echo(f"      {line}")
