"""Cron mode: scan, evaluate node rules against the node's own baseline, decide a Nagios status.

The baseline is the last good snapshot (a run with no active warning or critical finding). It is read and
replaced under an fcntl lock, written atomically, and never touched when the probe failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tpdoctor.engine.evaluate import Engine, Evaluation, Options
from tpdoctor.engine.rule import Rule
from tpdoctor.files.atomic import locked, write_atomic
from tpdoctor.files.read import read_text
from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import InputError, ParseError, TpdError
from tpdoctor.model.findings import Report, Severity, Status, apply_fail_on, status_of
from tpdoctor.model.topology import Topology
from tpdoctor.node.facts import NODE_SCHEMA, ExpectedBusbw, node_facts

Loader = Callable[[], Report]  # the node to judge (see node/read.py); raises TpdError when it cannot be read


@dataclass(frozen=True)
class HealthOutcome:
    report: Report | None  # None when the probe failed
    status: Status  # after --fail-on
    raw_status: Status  # before --fail-on
    duration_seconds: float
    error: str | None = None
    evaluation: Evaluation | None = None
    baseline_written: bool = False
    hint: str | None = None  # how to fix `error`


def read_baseline(path: Path) -> Topology | None:
    """The baseline's topology, None when there is none yet; a TpdError (one line) when it cannot be used:
    not a regular file, unreadable, binary, not a tpdoctor/v1 snapshot."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        text = read_text(path, what="a tpdoctor/v1 baseline")
        return report_json.loads(text, source=str(path)).topology
    except (InputError, ParseError) as exc:
        raise TpdError(f"baseline {exc.message}", hint=f"delete {path} to start a new baseline") from None


def run_health(load: Loader, rules: Sequence[Rule], *, options: Options | None = None,
               baseline_path: Path | None = None, fail_on: Severity = Severity.WARNING,
               expected_busbw: ExpectedBusbw | None = None,
               clock: Callable[[], float] = time.monotonic) -> HealthOutcome:
    start = clock()
    try:
        node = load()
    except TpdError as exc:
        return HealthOutcome(None, Status.UNKNOWN, Status.UNKNOWN, clock() - start, error=exc.message,
                             hint=exc.hint)
    topology, bench = node.topology, node.bench
    engine = Engine(rules, NODE_SCHEMA, options)
    if baseline_path is None:
        return _judge(engine, topology, bench, None, fail_on, expected_busbw, start, clock)
    try:
        with locked(baseline_path):
            baseline = read_baseline(baseline_path)
            outcome = _judge(engine, topology, bench, baseline, fail_on, expected_busbw, start, clock)
            if outcome.raw_status is Status.OK and outcome.report is not None:
                write_atomic(baseline_path, report_json.render(Report(topology=topology)), what="baseline")
                outcome = HealthOutcome(**{**outcome.__dict__, "baseline_written": True})
    except TpdError as exc:  # an unusable baseline or lock: exit 3, and the metrics still say the run failed
        return HealthOutcome(None, Status.UNKNOWN, Status.UNKNOWN, clock() - start, error=exc.message,
                             hint=exc.hint)
    return outcome


def _judge(engine: Engine, topology: Topology, bench: tuple[BenchResult, ...], baseline: Topology | None,
           fail_on: Severity, expected_busbw: ExpectedBusbw | None,
           start: float, clock: Callable[[], float]) -> HealthOutcome:
    evaluation = engine.evaluate(node_facts(topology, bench, baseline, expected_busbw))
    raw = status_of(evaluation.findings)
    report = Report(topology=topology, bench=bench, findings=evaluation.findings, status=raw)
    return HealthOutcome(report, apply_fail_on(raw, fail_on), raw, clock() - start, evaluation=evaluation)
