"""A loaded rule: its id, scope, condition, templates and docs (see `loader.py` for the checks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpdoctor.engine.templates import Template
from tpdoctor.model.findings import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    scope: str
    each: str
    severity: Severity
    summary: str
    when: str
    message: Template
    recommendation: Template
    docs: dict[str, Any]
    path: Path
    state: str = "active"
    builtin: bool = True
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)


def by_id(rules: Iterable[Rule], rule_id: str) -> Rule | None:
    return next((r for r in rules if r.id == rule_id.upper()), None)
