"""Snapshot of the check-deployment text view for the canonical case (width 100, no colour).

Regenerate after an intended change: TPDOCTOR_UPDATE_SNAPSHOTS=1 pytest tests/report/test_deployment_text.py
"""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

from rich.console import Console

from tpdoctor.deploy.check import check, read_manifests
from tpdoctor.probes.replay import example_path, load
from tpdoctor.report.catalogue import load_catalogue
from tpdoctor.report.deployment_text import render

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "check-deployment-canonical-width100.txt"


def test_canonical_text_snapshot() -> None:
    manifest = Path("fixtures/deployments/canonical-job.yaml")  # relative: the snapshot names it
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = check(read_manifests([manifest]), load(example_path()), load_catalogue())
    finally:
        os.chdir(cwd)
    console = Console(file=StringIO(), width=100, color_system=None)
    render(result, console, explain=True)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    if os.environ.get("TPDOCTOR_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(out, encoding="utf-8")
    assert out == SNAPSHOT.read_text(encoding="utf-8")
