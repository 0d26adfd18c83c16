"""Fleet rules (TPD3xx): every case folder in tests/rules/TPD3*/ generates its reports, merges them and
checks which rules fire how often and which nodes make it into the view."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet.factory import node
from tests.fleet.nvl72 import RACK_A, RACK_B, imex_ready, tray
from tpdoctor.commands.fleet import judge_again
from tpdoctor.fleet.judged import judged
from tpdoctor.fleet.load import load_fleet, parse_age
from tpdoctor.fleet.view import build_view
from tpdoctor.model import contract as report_json
from tpdoctor.model.findings import Status

NOW = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)
CASES = sorted((Path(__file__).resolve().parent.parent / "rules").glob("TPD3*/*.yaml"))


def write_report(folder: Path, spec: dict[str, Any]) -> None:
    if "tray" in spec:  # a GB200 NVL72 tray (tests/fleet/nvl72.py): rack, clique, fake-NVML fixture, IMEX nodes
        t = spec["tray"] or {}
        imex = imex_ready(list(t["imex_nodes"])) if "imex_nodes" in t else None
        report = tray(spec["host"], cluster=RACK_B if t.get("rack") == "b" else RACK_A,
                      clique=t.get("clique", 32766), fixture=t.get("fixture", "gb200-nvl72-tray"), imex=imex)
    else:
        report = node(spec["host"], off_switch=tuple(spec.get("off_switch", ())),
                      captured_at=spec.get("captured_at", "2026-11-21T12:00:00Z"), uuid_prefix=spec.get("uuid_prefix"))
    if "status" in spec:
        report = replace(report, status=Status(spec["status"]))
    text = report_json.render(report)
    if "schema" in spec:
        data = json.loads(text)
        data["schema"] = spec["schema"]
        text = json.dumps(data)
    if "truncate" in spec:
        text = text[: int(len(text) * spec["truncate"])]
    (folder / spec["file"]).write_text(text)
    if "received" in spec:  # the file's modification time: when the report arrived (fleet/load.py)
        stamp = datetime.fromisoformat(spec["received"].replace("Z", "+00:00")).timestamp()
        os.utime(folder / spec["file"], (stamp, stamp))


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fleet_rule_case(case: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load(case.read_text())
    for report in spec["reports"]:
        write_report(tmp_path, report)
    max_age: timedelta | None = parse_age(spec["max_age"]) if "max_age" in spec else None
    view = build_view(judged(load_fleet([tmp_path], max_age=max_age, now=lambda: NOW), judge_again))
    fired: dict[str, int] = {}
    for f in view.findings:
        if f.rule.startswith("TPD3"):
            fired[f.rule] = fired.get(f.rule, 0) + 1
    assert fired == spec["fires"]
    assert [n.host for n in view.nodes] == spec["nodes"]
    if "statuses" in spec:
        assert [n.status for n in view.nodes] == spec["statuses"]
    for f in view.findings:
        if f.rule.startswith("TPD3"):
            assert f.recommendation.endswith(".") and f.message
