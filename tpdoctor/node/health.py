"""Cron mode: scan, judge the node against its own baseline, decide a Nagios status.

The baseline is the node's own expectation (docs/health.md): each GPU pair it judged sets what the pair should
have now (`model.baseline.rebase`), ahead of the SKU and symmetry, and drift from it is TPD107. It is the
last clean snapshot (status ok: no active warning or critical, every check made), or one the operator
accepted as is (`accept=True`, `--accept-baseline`: a node whose known state is its normal state). It is
read and replaced under an fcntl lock, written atomically, and never touched when the probe failed, the
node was not clean (a failed measurement included) or the evidence was incomplete. What happened to it
is part of the outcome (`BaselineNote`), so a first run on a broken node says that no baseline was
written instead of leaving drift detection silently off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tpdoctor.engine.evaluate import Engine, Evaluation, Options
from tpdoctor.engine.rule import Rule
from tpdoctor.files.atomic import write_atomic
from tpdoctor.files.lock import locked
from tpdoctor.files.read import read_text
from tpdoctor.model import contract as report_json
from tpdoctor.model.baseline import accept as accepted
from tpdoctor.model.baseline import rebase, with_lost
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.coverage import with_coverage
from tpdoctor.model.errors import InputError, ParseError, TpdError
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.model.identity import match
from tpdoctor.model.topology import Topology
from tpdoctor.node.facts import NODE_SCHEMA, ExpectedBusbw, node_facts
from tpdoctor.node.verdict import decide, unknown_parts

Loader = Callable[[], Report]  # the node to judge (see node/read.py); raises TpdError when it cannot be read


@dataclass(frozen=True)
class BaselineNote:
    """What this run did with the baseline file."""

    path: str
    state: str  # written | accepted | kept | not_written | refused
    reason: str


@dataclass(frozen=True)
class HealthOutcome:
    report: Report | None  # None when the probe failed
    status: Status  # after --fail-on
    raw_status: Status  # before --fail-on
    duration_seconds: float
    error: str | None = None
    evaluation: Evaluation | None = None
    baseline_written: bool = False
    baseline: BaselineNote | None = None
    hint: str | None = None  # how to fix `error`


def read_baseline(path: Path) -> Topology | None:
    """The baseline's topology, None when there is none yet; a TpdError (one line) when it cannot be used:
    not a regular file, unreadable, binary, not a tpdoctor/v1 snapshot."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        text = read_text(path, what="a tpdoctor/v1 baseline", ours="baseline")
        return report_json.loads(text, source=str(path)).topology
    except (InputError, ParseError) as exc:
        raise TpdError(f"baseline {exc.message}", hint=f"delete {path} to start a new baseline") from None


def run_health(load: Loader, rules: Sequence[Rule], *, options: Options | None = None,
               baseline_path: Path | None = None, fail_on: Severity = Severity.WARNING,
               expected_busbw: ExpectedBusbw | None = None, accept: bool = False,
               clock: Callable[[], float] = time.monotonic) -> HealthOutcome:
    start = clock()
    try:
        node = load()
    except TpdError as exc:
        gone = _driver_gone(exc, baseline_path)
        if gone is None:
            return HealthOutcome(None, Status.UNKNOWN, Status.UNKNOWN, clock() - start, error=exc.message,
                                 hint=exc.hint)
        node = gone
    topology, bench = node.topology, node.bench
    engine = Engine(rules, NODE_SCHEMA, options)
    if baseline_path is None:
        return _judge(engine, topology, bench, None, fail_on, expected_busbw, start, clock)
    try:
        with locked(baseline_path):
            baseline = read_baseline(baseline_path)
            if baseline is not None:
                matched = match(baseline, topology)
                topology = with_lost(rebase(topology, baseline, matched), baseline, matched)
            outcome = _judge(engine, topology, bench, baseline, fail_on, expected_busbw, start, clock)
            note = _baseline_note(outcome, baseline_path, first_run=baseline is None, accept=accept)
            if note.state in ("written", "accepted") and outcome.report is not None:
                snapshot = replace(outcome.report.topology, running=None)  # links, not processes
                write_atomic(baseline_path, report_json.render(Report(
                    topology=with_coverage(accepted(snapshot)) if accept else snapshot)), what="baseline")
    except TpdError as exc:  # an unusable baseline or lock: exit 3, and the metrics still say the run failed
        return HealthOutcome(None, Status.UNKNOWN, Status.UNKNOWN, clock() - start, error=exc.message,
                             hint=exc.hint)
    return replace(outcome, baseline_written=note.state in ("written", "accepted"), baseline=note)


def _driver_gone(exc: TpdError, baseline_path: Path | None) -> Report | None:
    """A driver that cannot be reached, or lists no GPU, on a node whose baseline has GPUs: not "unknown" but
    every GPU of the baseline missing (TPD131), judged like any reading. None (the error stands: UNKNOWN naming
    the driver) without such a baseline."""
    from tpdoctor.probes.smi_probe import NoDriverError, utc_now

    if not isinstance(exc, NoDriverError) or exc.said is None or baseline_path is None:
        return None
    try:
        baseline = read_baseline(baseline_path)  # replaced atomically: readable without the lock
    except TpdError:
        return None
    if baseline is None or not any(g.status == "ok" for g in baseline.gpus):
        return None
    empty = replace(baseline, gpus=(), links=(), nics=(), missing=(), coverage=(), imex=None, nvlink_domain=None,
                    source="nvidia-smi", driver_message=exc.said,
                    probe_notes=(f"{exc.message}",), captured_at=utc_now())
    return Report(topology=empty)


def _baseline_note(outcome: HealthOutcome, path: Path, *, first_run: bool, accept: bool) -> BaselineNote:
    report = outcome.report
    assert report is not None
    gaps = unknown_parts(report)
    if accept:
        if gaps:
            return BaselineNote(str(path), "refused", "--accept-baseline refused: the evidence is incomplete "
                                f"({gaps[0].what} not checked); a baseline must not expect what was never read")
        return BaselineNote(str(path), "accepted", "baseline accepted as is (--accept-baseline): from the next run "
                            "this node's links expect what they show now")
    if outcome.raw_status is Status.OK:
        return BaselineNote(str(path), "written", "clean run: baseline replaced")
    why = "evidence incomplete" if outcome.raw_status is Status.UNKNOWN else "node not clean"
    if first_run:
        return BaselineNote(str(path), "not_written", f"no baseline written ({why} at its first run); drift "
                            "detection is off until a clean run, or --accept-baseline records the node as is")
    return BaselineNote(str(path), "kept", f"baseline kept ({why})")


def _judge(engine: Engine, topology: Topology, bench: tuple[BenchResult, ...], baseline: Topology | None,
           fail_on: Severity, expected_busbw: ExpectedBusbw | None,
           start: float, clock: Callable[[], float]) -> HealthOutcome:
    topology = with_coverage(topology)
    evaluation = engine.evaluate(node_facts(topology, bench, baseline, expected_busbw))
    report = Report(topology=topology, bench=bench, findings=evaluation.findings)
    raw, status = decide(report, fail_on)
    return HealthOutcome(replace(report, status=raw), status, raw, clock() - start, evaluation=evaluation)
