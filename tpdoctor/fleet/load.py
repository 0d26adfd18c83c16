"""Read per-node `tpdoctor/v1` reports from files and folders; one bad report never hides the others.

Problems with the inputs (unreadable or truncated JSON, a wrong schema version, a stale report, two
different nodes claiming one hostname) are returned as `MergeProblem`s, which become findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.readpool import read_reports
from tpdoctor.model.findings import Report
from tpdoctor.model.unknown import Unknown


@dataclass(frozen=True)
class MergeProblem:
    kind: str  # unreadable | stale | duplicate-host
    source: str  # file path(s)
    host: str | None
    message: str


@dataclass(frozen=True)
class NodeReport:
    source: str
    report: Report
    stale: bool = False  # older than --max-age: shown, but not trusted for placement

    @property
    def host(self) -> str:
        return self.report.topology.host


@dataclass(frozen=True)
class FleetInput:
    nodes: tuple[NodeReport, ...]
    problems: tuple[MergeProblem, ...]


def report_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to the `*.json` entries inside them (sorted), keep files as given. A FIFO or a dangling
    symlink named `*.json` is kept too, so that reading it is refused loudly instead of a node going missing."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json") if not q.is_dir()))
        else:
            out.append(p)
    return out


def _identity(report: Report) -> frozenset[str]:
    """What makes a node itself: its GPUs' UUIDs (bus ids where UUIDs are unknown)."""
    ids = set()
    for g in report.topology.gpus:
        if not isinstance(g.uuid, Unknown):
            ids.add(g.uuid)
        elif not isinstance(g.pci_bus_id, Unknown):
            ids.add(f"bus:{g.pci_bus_id}")
    return frozenset(ids)


def parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def load_fleet(
    paths: Sequence[str | Path],
    *,
    max_age: timedelta | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    workers: int = 2,
    meanwhile: Callable[[], object] | None = None,
) -> FleetInput:
    """Newest report per host; unreadable, stale and duplicate-host reports become `problems`. Large
    fleets are parsed by `workers` processes (see `readpool`); `meanwhile` runs here while they do."""
    with gc_paused():
        return _load(paths, max_age, now, workers, meanwhile)


def _load(paths: Sequence[str | Path], max_age: timedelta | None, now: Callable[[], datetime],
          workers: int, meanwhile: Callable[[], object] | None) -> FleetInput:
    problems: list[MergeProblem] = []
    by_host: dict[str, list[NodeReport]] = {}
    for source, report in read_reports(report_files(paths), workers, meanwhile=meanwhile):
        if isinstance(report, str):
            problems.append(MergeProblem("unreadable", source, None, report))
            continue
        by_host.setdefault(report.topology.host, []).append(NodeReport(source, report))

    reference = now()
    nodes: list[NodeReport] = []
    for host, reports in sorted(by_host.items()):
        reports.sort(key=lambda r: parse_time(r.report.topology.captured_at) or datetime.min.replace(
            tzinfo=timezone.utc))
        newest = reports[-1]
        idents = {_identity(r.report) for r in reports if _identity(r.report)}
        if len(idents) > 1:
            sources = ", ".join(r.source for r in reports)
            problems.append(MergeProblem(
                "duplicate-host", sources, host,
                f"{len(reports)} reports claim host {host!r} with different GPUs ({sources}): "
                "two nodes share a hostname; none of them is merged",
            ))
            continue
        captured = parse_time(newest.report.topology.captured_at)
        if max_age is not None and (captured is None or reference - captured > max_age):
            age = "of unknown age" if captured is None else f"{_human(reference - captured)} old"
            problems.append(MergeProblem(
                "stale", newest.source, host,
                f"report for {host!r} is {age} (limit {_human(max_age)}): {newest.source}",
            ))
            newest = NodeReport(newest.source, newest.report, stale=True)
        nodes.append(newest)
    return FleetInput(tuple(nodes), tuple(problems))


def _human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def parse_age(text: str) -> timedelta:
    """`30m`, `6h`, `2d`, `90s` -> timedelta; raises ValueError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    if not t or t[-1] not in units or not t[:-1].isdigit():
        raise ValueError(f"not an age: {text!r} (use e.g. 90s, 30m, 6h, 2d)")
    return timedelta(seconds=int(t[:-1]) * units[t[-1]])

