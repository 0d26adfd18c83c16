"""Every row of `cases.CASES` (issue 15): the exit code it must end with, its one-line error, no traceback,
finished within its deadline. The before/after table in README.md is made from the same rows (table.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.hostile.cases import CASES as CASES15
from tests.hostile.cases19 import CASES19
from tests.hostile.harness import Case, run_case

CASES = CASES15 + CASES19


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    if case.root and os.geteuid() != 0:
        pytest.skip("acts as root against another user (nobody): needs root")
    result = run_case(case, tmp_path)
    shown = f"{' '.join(result.argv)}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    assert result.returncode is not None, f"still running after {result.seconds:.0f} s\n{shown}"
    assert not result.traceback, shown
    assert result.seconds < case.deadline, f"took {result.seconds:.1f} s (deadline {case.deadline:g} s)\n{shown}"
    assert result.returncode == case.exit, shown
    assert re.search(case.pattern, result.message(case.stream)), f"{case.pattern!r} not in\n{shown}"
    if case.check is not None:
        case.check(tmp_path, result)


def test_case_names_are_unique_and_every_item_of_the_issue_has_rows() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.issue for c in CASES} >= {"1", "2", "3", "4", "6", "8", "+"}
    assert {c.issue for c in CASES19} == {"19.1", "19.2", "19.3", "19.4", "19.5", "19.6"}
