"""Read per-node `tpdoctor/v1` reports from files and folders; one bad report never hides the others.

Problems with the inputs (unreadable or truncated JSON, a wrong schema version, a stale report, two
different nodes claiming one hostname, a report dated in the future) are returned as `MergeProblem`s,
which become findings.

Reports come from other machines and are judged, not trusted (docs/security.md). Per host the newest
report wins: the one captured last, by its `captured_at`. A report dated more than FUTURE_TOLERANCE
ahead of this machine's clock (its node's clock is wrong) is a `clock-skew` problem (TPD306), and that
host's reports are then ordered by when they were *received*: their files' modification time (set when
the report was written or copied into the folder, by the file server's or this machine's clock), so a
report stamped a year ahead never hides one that arrived after it; its age for `--max-age` is measured
from its receipt too. A report's claimed `status` is re-derived from its own contents in `judged.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.readpool import read_reports
from tpdoctor.model.findings import Report
from tpdoctor.model.settings import MAX_AGE_SECONDS, SettingError
from tpdoctor.model.unknown import Unknown

FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks on NTP agree within milliseconds; this covers a drifting one


@dataclass(frozen=True)
class MergeProblem:
    kind: str  # unreadable | stale | duplicate-host | clock-skew | contradiction
    source: str  # file path(s)
    host: str | None
    message: str


@dataclass(frozen=True)
class NodeReport:
    source: str
    report: Report
    stale: bool = False  # older than --max-age: shown, but not trusted for placement
    received: float | None = None  # when the report arrived: its file's modification time (Unix seconds)

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


@lru_cache(maxsize=4096)  # each report's time is read up to four times (order, skew, age); a datetime is immutable
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
        by_host.setdefault(report.topology.host, []).append(NodeReport(source, report, received=_mtime(source)))

    reference = now()
    nodes: list[NodeReport] = []
    for host, reports in sorted(by_host.items()):
        ahead = [r for r in reports if _ahead(r, reference) is not None]
        reports.sort(key=lambda r: _order(r, by_received=bool(ahead)))
        newest = reports[-1]
        idents = {i for i in map(_identity, (r.report for r in reports)) if i}
        if len(idents) > 1:
            sources = ", ".join(r.source for r in reports)
            problems.append(MergeProblem(
                "duplicate-host", sources, host,
                f"{len(reports)} reports claim host {host!r} with different GPUs ({sources}): "
                "two nodes share a hostname; none of them is merged",
            ))
            continue
        if ahead:
            problems.append(_skew(host, ahead, newest, reference))
        when = _when(newest, reference)
        if max_age is not None and (when is None or reference - when > max_age):
            age = "of unknown age" if when is None else f"{_human(reference - when)} old"
            problems.append(MergeProblem(
                "stale", newest.source, host,
                f"report for {host!r} is {age} (limit {_human(max_age)}): {newest.source}",
            ))
            newest = NodeReport(newest.source, newest.report, stale=True, received=newest.received)
        nodes.append(newest)
    return FleetInput(tuple(nodes), tuple(problems))


def _mtime(source: str) -> float | None:
    try:
        return os.stat(source).st_mtime
    except OSError:
        return None


def _ahead(node: NodeReport, reference: datetime) -> timedelta | None:
    """How far a report's capture time lies beyond this machine's clock (more than FUTURE_TOLERANCE), or None."""
    captured = parse_time(node.report.topology.captured_at)
    if captured is None or captured - reference <= FUTURE_TOLERANCE:
        return None
    return captured - reference


def _order(node: NodeReport, *, by_received: bool) -> tuple[float, str]:
    """Newest last: by capture time, or by when the file was received when a report of that host is dated
    in the future (then its own date cannot be compared with anyone's)."""
    received = node.received if node.received is not None else float("-inf")
    if by_received:
        return received, node.source
    captured = parse_time(node.report.topology.captured_at)
    return (captured.timestamp() if captured else float("-inf")), node.source


def _when(node: NodeReport, reference: datetime) -> datetime | None:
    """The time a report's age is measured from: its capture time, or when it was received if that is
    in the future (a clock ahead must not keep a report fresh forever)."""
    if _ahead(node, reference) is None:
        return parse_time(node.report.topology.captured_at)
    return datetime.fromtimestamp(node.received, timezone.utc) if node.received is not None else None


def _skew(host: str, ahead: list[NodeReport], newest: NodeReport, reference: datetime) -> MergeProblem:
    worst = max(ahead, key=lambda r: _ahead(r, reference) or timedelta())
    lead = _ahead(worst, reference) or timedelta()
    used = "it was ordered by the time its file was received" if worst is newest else \
        f"a report received later is used instead ({newest.source})"
    return MergeProblem(
        "clock-skew", worst.source, host,
        f"report for {host!r} is dated {worst.report.topology.captured_at}, {_human(lead)} ahead of this "
        f"machine's clock: that node's clock is wrong (or this one's); {used}")


def _human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


class AgeError(SettingError, ValueError):
    """An age that is not one (`--max-age`): one line, exit 3."""


def parse_age(text: str) -> timedelta:
    """`30m`, `6h`, `2d`, `90s` -> timedelta; a SettingError (a ValueError too) in one line otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    if not t or t[-1] not in units or not t[:-1].isdigit() or len(t) > 12:
        raise AgeError(f"--max-age {text!r}: not an age (use e.g. 90s, 30m, 6h, 2d)")
    seconds = int(t[:-1]) * units[t[-1]]
    if seconds > MAX_AGE_SECONDS:
        raise AgeError(f"--max-age {text!r}: more than {MAX_AGE_SECONDS // 86400:,} days")
    return timedelta(seconds=seconds)

