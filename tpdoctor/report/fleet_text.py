"""Fleet renderers: stable JSON (`tpdoctor/fleet/v1`) and a rich summary for people."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from tpdoctor import __version__
from tpdoctor.fleet.view import FleetView
from tpdoctor.model.codec import to_data
from tpdoctor.model.safetext import markup
from tpdoctor.model.sizes import format_size

FLEET_SCHEMA = "tpdoctor/fleet/v1"
_STATUS_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "unknown": "magenta"}


def to_json(view: FleetView) -> str:
    data: dict[str, Any] = {"schema": FLEET_SCHEMA, "tool_version": __version__, **to_data(view)}
    return json.dumps(data, indent=2) + "\n"


def inter_node_table(view: FleetView, max_rows: int = 50) -> Table:
    """The measured paths between nodes: host pair (or the job's hosts), ranks, path NET, peak busbw."""
    table = Table(title=f"Inter-node paths measured ({len(view.inter_node)})")
    for col in ("hosts", "ranks", "path", "peak busbw GB/s", "at size", "group", "status"):
        table.add_column(col, justify="right" if "busbw" in col else "left", overflow="fold")
    for lk in view.inter_node[:max_rows]:
        names = [markup(h) for h in lk.hosts]
        hosts = " ↔ ".join(names) if len(names) == 2 else f"{len(names)} nodes: {', '.join(names)}"
        ranks = "+".join(str(r) for r in lk.ranks) if len(lk.ranks) <= 8 else f"{len(lk.ranks)} ranks"
        busbw = "—" if lk.busbw_gbps is None else f"{lk.busbw_gbps:.3f}" if lk.busbw_gbps < 10 \
            else f"{lk.busbw_gbps:.1f}"
        size = "—" if lk.bytes is None else format_size(lk.bytes)
        status = f"[bold red]{markup(lk.error, 2000)}[/]" if lk.error else "[green]ok[/]"
        table.add_row(hosts, ranks, markup(lk.path), busbw, size, markup(f"{lk.label or ''} ({lk.backend})"), status)
    if len(view.inter_node) > max_rows:
        table.caption = f"… and {len(view.inter_node) - max_rows} more (see --json)"
    return table


def domains_table(view: FleetView, max_rows: int = 50) -> Table:
    """Multi-node NVLink domains (ClusterUUID.CliqueId): trays, GPUs, unhealthy members, IMEX; then the
    nodes whose domain cannot be told."""
    table = Table(title=f"Multi-node NVLink domains ({len(view.nvlink_domains)})")
    for col in ("domain (ClusterUUID.CliqueId)", "trays", "GPUs", "unhealthy trays", "IMEX not ready"):
        table.add_column(col, justify="right" if col in ("trays", "GPUs") else "left", overflow="fold")
    for d in view.nvlink_domains[:max_rows]:
        bad = "\n".join(markup(u) for u in d.unhealthy) or "[green]none[/]"
        imex = ", ".join(markup(m.host) for m in d.members if m.imex == "not_ready") or "—"
        table.add_row(markup(d.id), str(len(d.members)), str(d.gpus), f"[yellow]{bad}[/]" if d.unhealthy else bad,
                      imex)
    for line in view.nvlink_domain_unknown[:max_rows]:
        host, _, why = line.partition(": ")
        table.add_row(f"[magenta]unknown[/] ({markup(host)})", "1", "", f"[magenta]{markup(why, 2000)}[/]", "")
    return table


def render_text(view: FleetView, console: Console, *, max_rows: int = 50) -> None:
    counts: dict[str, int] = {}
    for n in view.nodes:
        counts[n.status] = counts.get(n.status, 0) + 1
    summary = ", ".join(f"[{_STATUS_STYLE.get(k, '')}]{v} {k}[/]" for k, v in sorted(counts.items()))
    console.print(f"[bold]Fleet[/]: {len(view.nodes)} nodes ({summary or 'none'}); "
                  f"status [{_STATUS_STYLE[view.status.value]}]{view.status.value.upper()}[/]")

    worst = sorted(view.nodes, key=lambda n: (["critical", "unknown", "warning", "ok"].index(n.status)
                                             if n.status in _STATUS_STYLE else 9, n.host))
    table = Table(title="Nodes (worst first)", show_lines=False)
    for col in ("host", "status", "GPUs", "NVLink down", "degraded"):
        table.add_column(col, overflow="fold")  # wrap, never "…": a cut name or count misleads
    table.add_column("captured", no_wrap=True, min_width=20)  # a timestamp whole on one line
    for n in worst[:max_rows]:
        models = ", ".join(f"{c}× {markup(m)}" for m, c in n.gpu_models.items())
        status = f"[{_STATUS_STYLE.get(n.status, '')}]{markup(n.status)}{' (stale)' if n.stale else ''}[/]"
        table.add_row(markup(n.host), status, models, str(n.links_down), str(n.links_degraded), markup(n.captured_at))
    if len(worst) > max_rows:
        table.caption = f"… and {len(worst) - max_rows} more nodes (see --json)"
    console.print(table)

    if view.bad_links:
        bad = Table(title=f"Broken or degraded GPU links ({len(view.bad_links)})")
        for col in ("host", "pair", "path now", "NVLinks up/expected", "health"):
            bad.add_column(col, overflow="fold")
        for b in view.bad_links[:max_rows]:
            exp = "?" if b.nvlinks_expected is None else str(b.nvlinks_expected)
            style = "bold red" if b.health == "down" else "yellow"
            bad.add_row(markup(b.host), markup(f"{b.a}–{b.b}"), markup(b.path), f"{b.nvlinks}/{exp}",
                        f"[{style}]{b.health}[/]")
        console.print(bad)

    if view.inter_node:
        console.print(inter_node_table(view, max_rows))

    if view.nvlink_domains or view.nvlink_domain_unknown:
        console.print(domains_table(view, max_rows))

    inv = Table(title="Free GPUs by NVLink domain")
    inv.add_column("domain (model × free GPUs)")
    inv.add_column("count", justify="right")
    for key, count in view.inventory.items():
        inv.add_row(markup(key), str(count))
    console.print(inv)

    for f in view.findings:
        if f.rule.startswith("TPD30"):
            console.print(f"[yellow]{markup(f.rule)} {markup(f.name)}[/]: {markup(f.message, 2000)}")
