"""The human view of `tpdoctor predict`: one TP size (and TP=1 replicas), or the TP curve as a table and a
small terminal chart of per-token latency over NVLink and over PCIe. Pure functions of a result; tests render
into `Console(file=StringIO(), width=100)`."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tpdoctor.advice.curve import PAYS_PCT, CurvePoint
from tpdoctor.deploy.predict import CurveResult, PredictResult
from tpdoctor.llm.sizing import gib
from tpdoctor.model.safetext import markup

BAR_WIDTH = 40
NV_STYLE, PCIE_STYLE = "green", "yellow"


def _title(result: PredictResult | CurveResult) -> str:
    spec, req = result.spec, result.request
    note = " [illustrative architecture]" if spec.illustrative else ""
    return (f"{markup(spec.name)} ({spec.total_params() / 1e9:.1f}B params, {markup(result.dtype)}) on "
            f"{markup(result.sku.key)}, batch {req.batch}, context {req.context}, engine {markup(req.engine or 'vllm')}"
            + (f" {markup(req.engine_version)}" if req.engine_version else "") + (" (eager)" if req.eager else "")
            + note)


def render_single(result: PredictResult, console: Console, explain: bool = False) -> None:
    console.print(_title(result), highlight=False)
    for pr in result.predictions:
        mem = pr.memory
        fit = ""
        if mem is not None and mem.capacity_bytes_per_gpu:
            fit = (f"; memory {gib(mem.per_gpu_bytes)} of {gib(mem.capacity_bytes_per_gpu)} per GPU"
                   + ("" if mem.fits else " (does NOT fit)"))
        label = markup(pr.label)
        console.print(f"  {label:24} {pr.per_token_ms:7.2f} ms/token ({pr.per_token_ms_low:.2f}-"
                      f"{pr.per_token_ms_high:.2f})  {pr.tokens_per_s_per_stream:7.1f} tok/s "
                      f"per stream  {pr.tokens_per_s_total:8.1f} tok/s total  all-reduce "
                      f"{pr.allreduce_ms_per_token:5.2f} ms ({pr.allreduce_share:.0%}){fit}", highlight=False)
        if explain:
            lines = pr.explain + (f"80% interval {pr.per_token_ms_low:.2f}-{pr.per_token_ms_high:.2f} ms/token: "
                                  f"cross-validated error of the {pr.regime} regime (docs/costmodel.md)",)
            for line in lines + (mem.explain if mem else ()):
                console.print(f"      {markup(line)}", highlight=False)


def curve_table(result: CurveResult) -> Table:
    """One row per TP size and path (NVLink, then PCIe; a path with no prediction, e.g. NVLink on an L40S,
    has no rows): its path, ms/token, tok/s (batch > 1 only: at batch 1 it is 1000 / ms) and all-reduce
    share. Six columns fit 80 (a pipe); cells wrap ("fold") rather than end in "…", since a number cut short
    reads as another number."""
    c = result.curve
    per_stream = c.batch > 1
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=None)
    t.add_column("TP", justify="right", overflow="fold")
    t.add_column("memory", justify="left", overflow="fold")
    t.add_column("path", justify="left", overflow="fold")
    t.add_column("ms/token", justify="right", overflow="fold")
    if per_stream:
        t.add_column(f"tok/s ({c.batch} streams)", justify="right", overflow="fold")
    t.add_column("all-reduce", justify="right", overflow="fold")
    for i, pt in enumerate(c.points):
        mem = pt.nvlink.memory if pt.nvlink is not None else (pt.pcie.memory if pt.pcie is not None else None)
        fit = "–" if mem is None else (f"{gib(mem.per_gpu_bytes)}" + ("" if mem.fits else " ✗"))
        paths = [(p, kn) for p, kn in ((pt.nvlink, c.knee_nvlink), (pt.pcie, c.knee_pcie)) if p is not None]
        paths = paths[:1] if pt.tp == 1 else paths  # one GPU: no path, both sides are the same prediction
        for j, (p, kn) in enumerate(paths):
            ms = f"{p.per_token_ms:.2f}" + (" ◀" if pt.tp == kn else "")
            row = [str(pt.tp) if j == 0 else "", fit if j == 0 else "", p.path or "–", ms]
            row += [f"{p.tokens_per_s_total:,.0f}"] if per_stream else []
            row += [f"{p.allreduce_share:.0%} {p.allreduce_impl}" if p.tp > 1 else "–"]
            t.add_row(*row, style="dim" if pt.fits is False else None,
                      end_section=j == len(paths) - 1 and i < len(c.points) - 1 and len(paths) > 1)
    return t


def chart(points: tuple[CurvePoint, ...]) -> Text:
    """Horizontal bars of per-token latency, NVLink above PCIe for each TP (shorter is faster)."""
    values = [p.per_token_ms for pt in points for p in (pt.nvlink, pt.pcie) if p is not None]
    top = max(values, default=1.0)
    out = Text()
    out.append("per-token latency, ms (shorter is faster): ")
    out.append("█ NVLink", style=NV_STYLE)
    out.append("  ")
    out.append("▒ PCIe", style=PCIE_STYLE)
    out.append("\n")
    for pt in points:
        for i, (p, glyph, style) in enumerate(((pt.nvlink, "█", NV_STYLE), (pt.pcie, "▒", PCIE_STYLE))):
            if p is None:
                continue
            label = f"TP={pt.tp:<2}" if i == 0 or pt.nvlink is None else "     "
            n = max(1, round(p.per_token_ms / top * BAR_WIDTH))
            out.append(f" {label} ")
            out.append(glyph * n, style=style + (" dim" if pt.fits is False else ""))
            out.append(f" {p.per_token_ms:.2f}\n")
    return out


def _verdict(result: CurveResult) -> list[str]:
    c = result.curve
    lines = []
    for side, kn, fast in (("NVLink", c.knee_nvlink, c.fastest_nvlink), ("PCIe", c.knee_pcie, c.fastest_pcie)):
        if kn is None:
            continue
        nxt = [pt for pt in c.points if pt.tp > kn and pt.fits is not False
               and (pt.nvlink if side == "NVLink" else pt.pcie) is not None]
        if nxt:
            lines.append(f"{side}: TP stops paying after TP={kn} (TP={nxt[0].tp} would cut per-token latency by "
                         f"less than {PAYS_PCT:g}%); fastest per token at TP={fast}.")
        else:
            lines.append(f"{side}: every TP step up to TP={kn} still pays (each cuts per-token latency by "
                         f"{PAYS_PCT:g}% or more); fastest per token at TP={fast}.")
    if any(pt.fits is False for pt in c.points):
        smallest = next((pt.tp for pt in c.points if pt.fits), None)
        lines.append("dim rows do not fit the GPU's memory"
                     + (f"; the smallest TP that fits is {smallest}." if smallest else "; no TP up to 8 fits."))
    return lines


def render_curve(result: CurveResult, console: Console) -> None:
    console.print(_title(result), highlight=False)
    console.print(f"valid TP sizes: {', '.join(map(str, result.valid_tp))}; PCIe = a dual-socket 8-GPU server "
                  "(TP=2 under one switch, TP=4 in one socket, TP=8 across sockets)", highlight=False)
    console.print(curve_table(result))
    console.print("◀ where TP stops paying (the next TP cuts per-token latency by less than "
                  f"{PAYS_PCT:g}%)", highlight=False)
    console.print(chart(result.curve.points))
    for line in _verdict(result):
        console.print(line, highlight=False)
