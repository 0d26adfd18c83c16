"""`tpdoctor predict MODEL --gpu SKU [--tp N]`: the cost model's what-if face (check-deployment uses the same
functions). With `--tp`: per-token latency, tokens/s per stream and in total, the all-reduce share of each
token and memory per GPU, for TP=N over a path and for TP=1 × N replicas. Without `--tp`: the TP curve —
every valid TP over the SKU's NVLink and over a PCIe server, a table and a terminal chart, and where TP stops
paying."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tpdoctor.commands._bounded import Bounded
from tpdoctor.model.codec import to_data
from tpdoctor.model.settings import Bounds
from tpdoctor.node.read import read_node
from tpdoctor.report.terminal import terminal

# data/engines.yaml's engines (tests/advice/test_engines.py keeps the two equal; the CLI does not load the table
# to build its options)
ENGINES = ("vllm", "sglang", "trtllm", "tgi", "lmdeploy", "mlc-llm", "gpt-fast", "fastertransformer", "deepspeed")


@click.command("predict")
@click.argument("model")
@click.option("--gpu", "gpu", metavar="SKU", help="GPU SKU key or product name (e.g. h100-sxm, 'RTX 4090').")
@click.option("--tp", "tp", type=click.IntRange(1, 1024), default=None,
              help="Tensor-parallel size (default: the curve over every valid TP from 1 to 8).")
@click.option("--dtype", "dtype", default=None,
              help="Weights: fp32 bf16 fp16 fp8 int8 int4 awq gptq nvfp4 mxfp4.")
@click.option("--batch", "batch", type=click.IntRange(1), default=1, show_default=True,
              help="Concurrent streams per group (decode batch).")
@click.option("--context", "context", type=click.IntRange(0), default=None,
              help="Tokens of context each stream reads from the KV cache per step [default: input + output/2 "
                   "when --input-len is given, else 1024].")
@click.option("--input-len", "input_len", type=click.IntRange(0), default=None,
              help="Prompt tokens per request (with --output-len: the workload's shape).")
@click.option("--output-len", "output_len", type=click.IntRange(1), default=None,
              help="Generated tokens per request.")
@click.option("--continuous-batching", "continuous", is_flag=True,
              help="The --batch streams are requests arriving continuously (serving at that concurrency): each "
                   "step also prefills the others' prompts, (batch − 1) × input-len / output-len tokens.")
@click.option("--engine", "engine", type=click.Choice(ENGINES), default="vllm",
              show_default=True, help="Serving engine (custom all-reduce, CUDA graphs: docs/costmodel.md).")
@click.option("--engine-version", "engine_version", default=None, metavar="X.Y.Z",
              help="The engine's version (what it does by default changed: CUDA graphs, custom all-reduce, "
                   "kernels; data/engines.yaml) [default: the current release].")
@click.option("--eager", is_flag=True, help="No CUDA graphs (vLLM --enforce-eager).")
@click.option("--kv-cache-dtype", "kv_dtype", default="auto", show_default=True,
              help="KV cache dtype: auto (the activations', 16-bit) or fp8.")
@click.option("--path", "path", default=None, metavar="NV18|PHB|SYS/NODE|…",
              help="Path between the group's GPUs (default: the SKU's NVLink, else PHB); WEAK/LOCAL when only the "
                   "weakest pairs take WEAK and the ring's other links LOCAL (two sockets: SYS/NODE).")
@click.option("--topology", "topology_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Take the GPU and the path from a node capture (with --gpus).")
@click.option("--gpus", "gpus", default=None, metavar="0,1", help="GPU indices of the group in --topology.")
@click.option("--busbw", "busbw", type=Bounded(Bounds(0.01, 100_000.0, "GB/s")), default=None,
              help="Measured all-reduce busbw, GB/s.")
@click.option("--max-model-len", "max_model_len", type=int, default=None, help="For the memory estimate.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--explain", is_flag=True, help="Show the arithmetic.")
def command(model: str, gpu: str | None, tp: int | None, dtype: str | None, batch: int, context: int | None,
            input_len: int | None, output_len: int | None, continuous: bool, engine: str, engine_version: str | None,
            eager: bool, kv_dtype: str, path: str | None, topology_path: Path | None, gpus: str | None,
            busbw: float | None, max_model_len: int | None, as_json: bool, explain: bool) -> int:
    """Predict per-token decode latency and throughput of MODEL at TP=N and as TP=1 replicas, or over every
    valid TP size (without --tp)."""
    from tpdoctor.deploy.predict import PredictRequest, predict, predict_curve
    from tpdoctor.report.predict_text import render_curve, render_single

    if gpu is None and topology_path is None:
        raise click.UsageError("give --gpu SKU or --topology PATH")
    topology = read_node(topology_path).topology if topology_path is not None else None
    try:
        group = tuple(int(x) for x in gpus.split(",")) if gpus else ()
    except ValueError:
        raise click.BadParameter(f"{gpus!r} is not a comma list of GPU indices", param_hint="--gpus") from None
    if continuous and not (input_len and output_len):
        raise click.UsageError("--continuous-batching needs --input-len and --output-len")
    if context is None:
        context = input_len + (output_len or 0) // 2 if input_len is not None else 1024
    prefill = (batch - 1) * input_len / output_len if continuous and input_len and output_len else 0.0
    req = PredictRequest(model=model, tp=tp, gpu=gpu, dtype=dtype, batch=batch, context=context, path=path,
                         topology=topology, gpus=group, busbw_gbps=busbw, max_model_len=max_model_len,
                         engine=engine, eager=eager, engine_version=engine_version,
                         kv_dtype="bf16" if kv_dtype == "auto" else kv_dtype, prefill_tokens=prefill)
    console = terminal(highlight=False, soft_wrap=False)
    try:
        if tp is None:
            curve = predict_curve(req)
            if as_json:
                click.echo(json.dumps({"model": curve.spec.name, "gpu": curve.sku.key, "dtype": curve.dtype,
                                       "batch": batch, "valid_tp": list(curve.valid_tp),
                                       "curve": to_data(curve.curve)}, indent=2))
            else:
                render_curve(curve, console)
            return 0
        result = predict(req)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"model": result.spec.name, "gpu": result.sku.key, "dtype": result.dtype,
                               "batch": batch, "path": result.path, "predictions": to_data(list(result.predictions))},
                              indent=2))
        return 0
    render_single(result, console, explain)
    return 0
