"""Rich views of benchmark results (pure functions over results; the caller prints them).

`size_table`: per size time, algbw, busbw and check for one group, peak busbw in the title.
`pair_heatmap`: the pairwise busbw matrix, each cell coloured by its share of the best pair (green best,
red worst, failed pairs marked), with the topology path in the cell when a Topology is given, so a slow
pair sits next to its `topo -m` path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.color import Color
from rich.console import Group as RenderGroup
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from tpdoctor.model.attach import pair_peaks
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import group_label, peak_busbw_gbps
from tpdoctor.model.safetext import clean
from tpdoctor.model.sizes import format_size
from tpdoctor.model.topology import Topology, ordered


def _by_group(results: Iterable[BenchResult]) -> dict[tuple[int, ...], list[BenchResult]]:
    out: dict[tuple[int, ...], list[BenchResult]] = {}
    for r in results:
        out.setdefault(r.group, []).append(r)
    return out


def _gbps(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def size_table(group: tuple[int, ...], results: Sequence[BenchResult]) -> Table:
    peak = peak_busbw_gbps(results)
    backend = results[0].backend if results else "?"
    title = f"{group_label(group, backend)} · {backend} · {len(group)} ranks · peak busbw " + \
        (f"{_gbps(peak)} GB/s" if peak is not None else "n/a")
    table = Table(title=title, title_justify="left")
    for name in ("size", "time_us", "algbw GB/s", "busbw GB/s", "check"):
        table.add_column(name, justify="left" if name in ("size", "check") else "right")
    for r in sorted(results, key=lambda r: r.bytes):
        if r.error is not None and r.time_us == 0:
            table.add_row(format_size(r.bytes), "—", "—", "—", Text(clean(r.error), style="bold red"))
            continue
        check = Text("ok", style="green") if r.correct else Text("WRONG RESULT", style="bold red")
        style = "bold" if peak is not None and r.busbw_gbps == peak else ""
        table.add_row(format_size(r.bytes), f"{r.time_us:.1f}", _gbps(r.algbw_gbps),
                      Text(_gbps(r.busbw_gbps), style=style), check)
    return table


def heat_style(value: float, best: float) -> Style:
    """Red (0) → yellow (½) → green (best), as a background with dark text."""
    share = 0.0 if best <= 0 else max(0.0, min(1.0, value / best))
    if share < 0.5:
        red, green = 220, int(60 + 340 * share)
    else:
        red, green = int(220 - 300 * (share - 0.5)), 200
    return Style(color="black", bgcolor=Color.from_rgb(red, green, 60))


def pair_heatmap(results: Iterable[BenchResult], topology: Topology | None = None) -> Table:
    """The pairwise peak busbw matrix (GB/s) of every two-GPU group in `results`."""
    results = list(results)
    pairs = _by_group(r for r in results if len(r.group) == 2)
    gpus = sorted({i for g in pairs for i in g})
    peaks = pair_peaks(results)
    best = max(peaks.values(), default=0.0)
    unit = "rank" if results and all(r.backend == "gloo" for r in results) else "GPU"  # gloo: CPU ranks
    table = Table(title="pairwise all-reduce busbw, GB/s (peak over sizes)", title_justify="left")
    table.add_column("")
    for g in gpus:
        table.add_column(f"{unit}{g}", justify="center")
    for a in gpus:
        row: list[RenderableType] = [Text(f"{unit}{a}", style="bold")]
        for b in gpus:
            if a == b:
                row.append(Text("X", style="dim"))
                continue
            key = ordered(f"GPU{a}", f"GPU{b}")
            link = topology.link(*key) if topology is not None else None
            path = f"{link.path} " if link is not None else ""
            measured = pairs.get((min(a, b), max(a, b))) or pairs.get((max(a, b), min(a, b)))
            if key in peaks:
                row.append(Text(f"{path}{_gbps(peaks[key])}", style=heat_style(peaks[key], best)))
            elif measured:
                row.append(Text(f"{path}FAIL", style="bold white on red"))
            else:
                row.append(Text(f"{path}—", style="dim"))
        table.add_row(*row)
    return table


def pair_summary(results: Iterable[BenchResult]) -> Table:
    """One line per pair: round, peak busbw and the first error, for `--pairs` (instead of n² size tables)."""
    table = Table(title="pairs", title_justify="left")
    for name in ("pair", "round", "peak busbw GB/s", "at size", "status"):
        table.add_column(name, justify="right" if "busbw" in name else "left")
    for group, rs in sorted(_by_group(results).items()):
        peak = peak_busbw_gbps(rs)
        at = next((format_size(r.bytes) for r in rs if peak is not None and r.busbw_gbps == peak), "—")
        error = next((r.error for r in rs if r.error), None)
        rnd = rs[0].round_index
        table.add_row(group_label(group, rs[0].backend), "—" if rnd is None else str(rnd + 1),
                      _gbps(peak) if peak is not None else "—", at,
                      Text(clean(error), style="bold red") if error else Text("ok", style="green"))
    return table


def render_bench(results: Sequence[BenchResult], topology: Topology | None = None) -> RenderableType:
    """Everything for the `bench` command: size tables, or (all-pairs) a summary and the heatmap."""
    groups = _by_group(results)
    if results and all(r.label == "pairs" for r in results):
        return RenderGroup(pair_summary(results), pair_heatmap(results, topology))
    parts: list[RenderableType] = [size_table(g, rs) for g, rs in groups.items()]
    if sum(1 for g in groups if len(g) == 2) >= 2:
        parts.append(pair_heatmap(results, topology))
    return RenderGroup(*parts)
