"""The generated fixtures are what their generators write today: a generator that no longer imports (a
module moved) or a writer that grew a field shows up here, not the next time someone regenerates."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tpdoctor.model.contract import render
from tpdoctor.model.findings import Report

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generate_{path.parent.name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(_load(ROOT / "fixtures/topologies/generate.py").NODES))
def test_topology_fixture_is_what_the_generator_writes(name: str) -> None:
    gen = _load(ROOT / "fixtures/topologies/generate.py")
    written = (ROOT / "fixtures/topologies" / name).read_text(encoding="utf-8")
    assert written == render(Report(topology=gen.NODES[name]())), f"regenerate: python {gen.__file__}"


def test_fleet_fixtures_are_what_the_generator_writes() -> None:
    gen = _load(ROOT / "fixtures/fleet/generate.py")
    for host, report in gen.NODES.items():
        written = (ROOT / "fixtures/fleet/reports" / f"{host}.json").read_text(encoding="utf-8")
        assert written == render(report), f"{host}: regenerate with python {gen.__file__}"
