"""Findings, statuses and the Report that every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tpdoctor import SCHEMA
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.exitcodes import ExitCode
from tpdoctor.model.topology import Topology


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Status(str, Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> ExitCode:
        return {
            Status.OK: ExitCode.OK,
            Status.WARNING: ExitCode.WARNING,
            Status.CRITICAL: ExitCode.CRITICAL,
            Status.UNKNOWN: ExitCode.UNKNOWN,
        }[self]


SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Finding:
    rule: str  # TPDnnn
    name: str  # kebab-case rule name
    severity: Severity
    subject: str  # what it is about: "GPU0-GPU1", "deployment qwen35-27b"
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    recommendation: str = ""
    suppressed: bool = False
    suppressed_reason: str | None = None
    # False when the rule could not judge its subject (an unknown fact, a rule error): an info finding
    # that says why. In the v1 JSON it travels as `evidence.judged: false` (see model/contract.py).
    judged: bool = field(default=True, metadata={"json": False})

    @property
    def active(self) -> bool:
        """Counts towards a status: judged and not suppressed (info findings count as ok anyway)."""
        return self.judged and not self.suppressed


def status_of(findings: tuple[Finding, ...] | list[Finding]) -> Status:
    """Worst active (non-suppressed, non-info) severity; ok when there is none."""
    worst = Status.OK
    for f in findings:
        if f.suppressed:
            continue
        if f.severity is Severity.CRITICAL:
            return Status.CRITICAL
        if f.severity is Severity.WARNING:
            worst = Status.WARNING
    return worst


def apply_fail_on(status: Status, fail_on: Severity) -> Status:
    """`--fail-on critical` lets warnings pass as ok (exit 0); the text still lists them."""
    if fail_on is Severity.CRITICAL and status is Status.WARNING:
        return Status.OK
    return status


@dataclass(frozen=True)
class Report:
    """Everything one run knows: the topology, benchmark results and findings."""

    topology: Topology
    bench: tuple[BenchResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    status: Status = Status.OK
    schema: str = SCHEMA
