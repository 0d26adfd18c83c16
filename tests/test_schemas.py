"""The JSON contracts have JSON Schemas (schemas/, in the wheel too) that match the data model, and what
tpdoctor writes and reads validates against them: every report fixture, and every command's JSON output.
jsonschema is a test dependency only; tpdoctor itself never imports it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tpdoctor import SCHEMA, __version__
from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = {json.loads(p.read_text())["properties"]["schema"]["const"]: json.loads(p.read_text())
           for p in (ROOT / "schemas").glob("*.schema.json")}
REPORTS = sorted(p for p in [*ROOT.glob("fixtures/**/*.json"), *ROOT.glob("tpdoctor/examples/**/*.json")]
                 if '"schema": "tpdoctor/v1"' in p.read_text()[:200] or '"schema":"tpdoctor/v1"' in p.read_text()[:200])
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
CANONICAL = ROOT / "fixtures" / "deployments" / "canonical-job.yaml"


def errors(data: dict) -> list[str]:  # type: ignore[type-arg]
    schema = SCHEMAS[data["schema"]]
    Draft202012Validator.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in Draft202012Validator(schema).iter_errors(data)]


def test_committed_schemas_match_the_data_model() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_schemas.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(SCHEMAS) == {SCHEMA, "tpdoctor/fleet/v1", "tpdoctor/fleet-check/v1"}


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_report_fixture_validates(path: Path) -> None:
    assert not errors(json.loads(path.read_text()))


def test_fixtures_were_found() -> None:
    assert len(REPORTS) >= 10


@pytest.mark.parametrize("argv", [
    ["scan", "--from", str(EXAMPLE), "--json"],
    ["health", "--from", str(EXAMPLE), "--json"],
    ["demo", "--json"],
    ["check-deployment", str(CANONICAL), "--topology", str(EXAMPLE), "--json"],
    ["fleet", str(ROOT / "fixtures" / "fleet" / "reports"), "--json"],
    ["check-deployment", str(CANONICAL), "--fleet", str(ROOT / "fixtures" / "fleet" / "reports"), "--json"],
    ["check-deployment", str(CANONICAL), "--fleet", str(ROOT / "fixtures" / "fleet" / "reports"), "--json",
     "--json-detail", "full"],
], ids=lambda a: " ".join(x for x in a if not x.startswith("/")))
def test_every_commands_json_validates(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main(argv)
    data = json.loads(capsys.readouterr().out)
    assert not errors(data)
    assert data["tool_version"] == __version__
