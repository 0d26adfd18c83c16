"""The human view of a Report (rich): link matrix, GPU table, legend, findings, probe notes.

A pure function of the Report: `render(report, console)` writes into any Console, so tests render into
`Console(file=StringIO(), width=100)`. A down or degraded NVLink is drawn so it cannot be missed:
`✗NV12→NODE` in white on red (the NVLinks that should be there, then the path traffic takes now).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tpdoctor.model.coverage import not_made
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.model.safetext import clean, markup
from tpdoctor.model.topology import Gpu, Link, LinkHealth, NvLinkState, PathKind, Topology, path_kind
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.model.virtualization import nvlink_not_exposed
from tpdoctor.report.wrap import hang

PATH_STYLE = {
    PathKind.NV: "bold green",
    PathKind.PIX: "cyan",
    PathKind.PXB: "cyan",
    PathKind.PHB: "yellow",
    PathKind.NODE: "dark_orange",
    PathKind.SYS: "magenta",
    PathKind.NET: "dim",
}
DOWN_STYLE = "bold white on red"
DEGRADED_STYLE = "bold black on yellow"
UNKNOWN_STYLE = "bold magenta"
STATUS_STYLE = {Status.OK: "bold green", Status.WARNING: "bold yellow", Status.CRITICAL: "bold red",
                Status.UNKNOWN: "bold magenta"}
SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}
LEGEND = (
    ("NV#", PathKind.NV, "# bonded NVLinks"),
    ("PIX", PathKind.PIX, "one PCIe switch"),
    ("PXB", PathKind.PXB, "PCIe switches"),
    ("PHB", PathKind.PHB, "CPU host bridge"),
    ("NODE", PathKind.NODE, "same NUMA node"),
    ("SYS", PathKind.SYS, "across sockets"),
)


def show(value: Maybe[object], fmt: str = "{}") -> str:
    return "?" if isinstance(value, Unknown) else fmt.format(value)


def expected_of(link: Link) -> int | None:
    exp = link.nvlinks_expected
    return exp if isinstance(exp, int) and not isinstance(exp, bool) else None


def link_cell(link: Link | None, compact: bool = False) -> Text:
    """One matrix cell: the effective path in its class colour; broken NVLinks marked loudly.

    `compact` (a matrix too wide for the terminal): `✗NODE` for a down NVLink (traffic on NODE), `!NV8` for
    a degraded one; the lines under the matrix say how many were expected."""
    if link is None:
        return Text("·", style="dim")
    exp = expected_of(link)
    if link.health is LinkHealth.DOWN:
        shown = f"NV{exp}" if exp else "NV"
        return Text(f"✗{link.path}" if compact else f"✗{shown}→{link.path}", style=DOWN_STYLE)
    if link.health is LinkHealth.DEGRADED:
        return Text(f"!NV{link.nvlinks}" if compact else f"!NV{link.nvlinks}/{exp if exp else '?'}",
                    style=DEGRADED_STYLE)
    if link.health is LinkHealth.UNKNOWN and link.is_gpu_pair:
        return Text("?" if "unseen" in link.evidence else f"?{link.path}", style=UNKNOWN_STYLE)
    return Text(link.path, style=PATH_STYLE.get(path_kind(link.path), ""))


def _header(report: Report, console: Console) -> None:
    topo = report.topology
    head = Text.assemble(("tpdoctor scan ", "bold"), (clean(topo.host), "bold cyan"), "  ")
    body = (f"{len(topo.gpus)} GPU{'s' if len(topo.gpus) != 1 else ''}  source {clean(topo.source)}  "
            f"captured {clean(topo.captured_at)}  status {report.status.value.upper()}")
    line = hang(head, body, console.width, indent=2)
    line.stylize(STATUS_STYLE[report.status], len(line) - len(report.status.value), len(line))
    console.print(line, soft_wrap=True)


def _matrix_width(topo: Topology, compact: bool) -> int:
    """Columns the matrix needs: the row labels, then each column's widest cell plus its padding."""
    label = max((len(g.label) for g in topo.gpus), default=0)
    cols = [max([len(col.label), 3] + [link_cell(topo.gpu_link(row.index, col.index), compact).cell_len
                                       for row in topo.gpus if row.index != col.index]) for col in topo.gpus]
    return label + sum(w + 3 for w in cols)  # each column: its padding (1 + 1) and the box's separator


def matrix_table(topo: Topology, width: int = 100) -> Table:
    """The GPU x GPU matrix. Row labels are never dropped; when the full cells (`✗NV18→NODE`) do not fit
    `width`, every cell is written compact (`✗NODE`, `!NV8`) and the caption says so."""
    compact = _matrix_width(topo, False) > width
    table = Table(title="GPU link matrix (effective path now)", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  title_justify="left", title_style="bold",
                  caption="compact: ✗NODE NVLinks down, traffic on NODE · !NV8 degraded" if compact else None,
                  caption_justify="left")
    table.add_column("", style="bold", no_wrap=True, min_width=max((len(g.label) for g in topo.gpus), default=1))
    for g in topo.gpus:
        table.add_column(g.label, justify="center", no_wrap=True)
    for row in topo.gpus:
        cells = [Text(" X ", style="dim") if row.index == col.index
                 else link_cell(topo.gpu_link(row.index, col.index), compact) for col in topo.gpus]
        table.add_row(row.label, *cells)
    return table


def nic_table(topo: Topology) -> Table | None:
    if not topo.nics:
        return None
    table = Table(title="GPU ↔ NIC paths", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, title_justify="left",
                  title_style="bold")
    table.add_column("", style="bold")
    for g in topo.gpus:
        table.add_column(g.label, justify="center", no_wrap=True)
    for nic in topo.nics:
        label = nic.label if isinstance(nic.name, Unknown) else f"{nic.label} {markup(nic.name)}"
        table.add_row(label, *[link_cell(topo.link(g.label, nic.label)) for g in topo.gpus])
    return table


def broken_lines(topo: Topology) -> list[Text]:
    out = []
    for link in topo.gpu_links():
        if link.health not in (LinkHealth.DOWN, LinkHealth.DEGRADED):
            continue
        exp = expected_of(link)
        style = DOWN_STYLE if link.health is LinkHealth.DOWN else DEGRADED_STYLE
        word = "DOWN" if link.health is LinkHealth.DOWN else "DEGRADED"
        ratio = f"{link.nvlinks}/{exp if exp is not None else '?'} NVLinks up"
        out.append(Text.assemble((f" {link.a}–{link.b} NVLink {word} ", style),
                                 f" {ratio}; traffic takes {link.path} ({_path_words(link.path)})"))
    return out


def device_lines(topo: Topology) -> list[Text]:
    """What the probe saw on the devices themselves: lost GPUs, unready fabric, NVLink error counters,
    and pairs whose path the two probes read differently."""
    out = []
    for g in topo.gpus:
        if g.status != "ok":
            out.append(Text.assemble((f" {g.label} {clean(g.status.upper())} ", DOWN_STYLE),
                                     f" {clean(g.status_reason or 'no reason recorded')}"))
        fab = g.fabric
        if fab is not None and fab.state not in ("completed", "not_supported"):
            out.append(Text.assemble((f" {g.label} fabric {clean(fab.state)} ", DOWN_STYLE),
                                     " NVSwitch fabric not registered: is nv-fabricmanager running?"))
        elif fab is not None and fab.state == "completed" and isinstance(fab.status, str) \
                and fab.status != "success":
            out.append(Text.assemble((f" {g.label} fabric {clean(fab.status)} ", DOWN_STYLE),
                                     " fabric registration completed with an error"))
        for port in g.nvlinks:
            counts = {name: getattr(port.errors, name)
                      for name in ("replay", "recovery", "crc_flit", "crc_data")}
            bad = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and v > 0)
            if bad:
                out.append(Text.assemble((f" {g.label} link {port.link} errors ", DEGRADED_STYLE), f" {bad}"))
    for link in topo.gpu_links():
        paths = link.evidence.get("paths")
        if isinstance(paths, dict):
            said = clean(", ".join(f"{k} {v}" for k, v in paths.items()))
            out.append(Text.assemble((f" {link.a}–{link.b} probes disagree ", DEGRADED_STYLE), f" {said}"))
    return out


def _path_words(path: str) -> str:
    kind = path_kind(path)
    if kind is PathKind.NV:
        return "NVLink"
    return "PCIe" if kind is not PathKind.NET else "network"


def _pcie(g: Gpu) -> Text:
    """`Gen5 x16`; a link trained below its max shows both, in yellow: `Gen4 x8 (max Gen5 x16)`."""
    p = g.pcie
    cur = f"Gen{show(p.gen_current)} x{show(p.width_current)}"
    mx = f"Gen{show(p.gen_max)} x{show(p.width_max)}"
    if cur == mx:
        return Text(cur)
    below = any(isinstance(c, int) and isinstance(m, int) and c < m
                for c, m in ((p.gen_current, p.gen_max), (p.width_current, p.width_max)))
    return Text(f"{cur} (max {mx})", style="yellow" if below else "")


def _nvlinks(g: Gpu) -> str:
    if not g.nvlinks:
        return "none (VM)" if nvlink_not_exposed(g) else "?"
    up = sum(1 for port in g.nvlinks if port.state is NvLinkState.ACTIVE)
    return f"{up}/{len(g.nvlinks)}"


def _memory(g: Gpu) -> str:
    return show(g.memory_mib, "{} MiB")


def _bus_id(g: Gpu) -> str:
    """nvidia-smi's bus id without the all-zero PCI domain: `00000000:1B:00.0` -> `1B:00.0`."""
    bus = show(g.pci_bus_id)
    domain, sep, rest = bus.partition(":")
    return rest if sep and domain.strip("0") == "" and rest.count(":") == 1 else bus


def gpu_table(topo: Topology, width: int = 100) -> Table:
    """One row per GPU; below 90 columns the bus id is left out so the rest stays on one line."""
    table = Table(title="GPUs", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, title_justify="left",
                  title_style="bold")
    columns = [("GPU", "left"), ("Name", "left"), ("Memory", "right"), ("Bus", "left"), ("NUMA", "right"),
               ("CPU affinity", "left"), ("PCIe", "left"), ("NVLinks", "right")]
    with_bus = width >= 90
    for name, justify in columns:
        if name == "Bus" and not with_bus:
            continue
        name = "CPUs" if name == "CPU affinity" and not with_bus else name  # a header rich would cut in two
        table.add_column(name, justify=justify, no_wrap=name not in ("CPU affinity", "CPUs"),  # type: ignore[arg-type]
                         overflow="fold")
    for g in topo.gpus:
        cells: list[str | Text] = [g.label, markup(g.name), _memory(g), *([markup(_bus_id(g))] if with_bus else []),
                                   show(g.numa_node), markup(show(g.cpu_affinity)), _pcie(g), _nvlinks(g)]
        table.add_row(*cells, style="red" if g.status != "ok" else "")
    return table


def legend() -> Text:
    """Three short lines, so that nothing wraps mid-entry on an 80-column terminal."""
    text = Text("Legend: ", style="bold")
    for i, (label, kind, meaning) in enumerate(LEGEND):
        text.append(label, style=PATH_STYLE[kind])
        text.append(f" {meaning}")
        text.append("\n        " if i in (2, len(LEGEND) - 1) else " · ")
    text.append("✗NV12→NODE", style=DOWN_STYLE)
    text.append(" NVLinks down, traffic on PCIe  ·  ")
    text.append("!NV8/12", style=DEGRADED_STYLE)
    text.append(" some NVLinks down\n        ")
    text.append("?NODE", style=UNKNOWN_STYLE)
    text.append(" health not known (see Not checked)")
    return text


def not_checked(topo: Topology) -> list[str]:
    """One line per check the evidence could not support, with the command that would answer it."""
    out = []
    for gap in not_made(topo):
        where = f" [{', '.join(gap.subjects[:6])}{', …' if len(gap.subjects) > 6 else ''}]" if gap.subjects else ""
        run = f" → run `{gap.command}`" if gap.command else ""
        out.append(f" {clean(gap.what)}{clean(f'{where}: {gap.reason}{run}', 2000)}")
    return out


def _findings(report: Report, console: Console) -> None:
    """Each active finding with a hanging indent: wrapped text stays under the message, the recommendation
    under its arrow."""
    console.print(Text("Findings", style="bold"))
    for f in report.findings:
        if f.suppressed:
            continue
        head = Text.assemble((f" {f.severity.value.upper():8}", SEVERITY_STYLE[f.severity]),
                             (f" {clean(f.rule)} {clean(f.name)} ", "bold"))
        said = f"{f.subject}: {f.message.removeprefix(f'{f.subject}: ')}"  # a running group's message names it
        console.print(hang(head, clean(said, 2000), console.width, indent=10), soft_wrap=True)
        if f.recommendation:
            console.print(hang(" " * 10 + "→ ", clean(f.recommendation, 2000), console.width), soft_wrap=True)


def render(report: Report, console: Console, *, banner: str | None = None, footer: str | None = None) -> None:
    """Write the whole human report into `console`. `footer` replaces the closing "Status: … (exit N)" line
    (the demo, which exits 0 by design, says so there)."""
    topo = report.topology
    if banner:
        console.print(hang(Text(""), banner.strip(), console.width, indent=0, style="bold reverse"), soft_wrap=True)
    _header(report, console)
    console.print(matrix_table(topo, console.width))
    for line in broken_lines(topo):
        console.print(line)
    for line in device_lines(topo):
        console.print(line)
    if broken_lines(topo) or device_lines(topo):
        console.print()
    nics = nic_table(topo)
    if nics is not None:
        console.print(nics)
    console.print(gpu_table(topo, console.width))
    if topo.running is not None:
        from tpdoctor.report import running_text

        console.print(running_text.table(topo.running))
        for note in running_text.detail_lines(topo.running):
            console.print(note, highlight=False, markup=False)
    console.print(legend())
    if report.findings:
        _findings(report, console)
    gaps = not_checked(topo)
    if gaps:
        console.print(Text("Not checked (the status cannot be ok without these)", style="bold"))
        for gap in gaps:
            console.print(hang(Text(""), gap, console.width, indent=3), soft_wrap=True, highlight=False)
    if topo.probe_notes:
        console.print(Text("Probe notes", style="bold"))
        for note in topo.probe_notes:
            console.print(hang(" • ", clean(note, 2000), console.width), soft_wrap=True, highlight=False, markup=False)
    status = Text.assemble("Status: ", (report.status.value, STATUS_STYLE[report.status]))
    if footer:
        console.print(hang(status + Text(" — "), footer, console.width, indent=2), soft_wrap=True)
    else:
        console.print(status + Text(f" (exit {int(report.status.exit_code)})"), soft_wrap=True)
