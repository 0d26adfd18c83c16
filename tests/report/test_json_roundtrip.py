"""The tpdoctor/v1 contract is lossless: report -> JSON -> report is the same report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, FIXTURES
from tpdoctor.model.contract import loads, render
from tpdoctor.model.errors import ParseError
from tpdoctor.model.topology import Topology
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.replay import load


def _loadable() -> list[Path]:
    out = [EXAMPLE]
    for path in sorted((FIXTURES / "smi" / "topo-m").glob("*.txt")):
        try:
            load(path)
        except ParseError:
            continue
        out.append(path)
    return out


LOADABLE = _loadable()


def test_most_topo_m_fixtures_load() -> None:
    assert len(LOADABLE) >= 30


@pytest.mark.parametrize("path", LOADABLE, ids=lambda p: p.stem[:40])
def test_report_json_report_is_lossless(path: Path) -> None:
    report = report_for(load(path))
    text = render(report)
    again = loads(text, source=str(path))
    assert again == report
    assert render(again) == text


def test_example_json_names_the_contract_fields() -> None:
    data = json.loads(render(report_for(load(EXAMPLE))))
    assert data["schema"] == "tpdoctor/v1"
    assert set(data) >= {"host", "source", "captured_at", "gpus", "nics", "links", "bench", "findings", "status"}
    link = next(lk for lk in data["links"] if (lk["a"], lk["b"]) == ("GPU0", "GPU1"))
    assert {"path", "nvlinks", "nvlinks_expected", "p2p", "health", "nominal_gbps", "busbw_gbps"} <= set(link)
    # Unknown values are nulls with their reason kept beside them
    assert data["driver_version"] == "570.124.06"  # the example's `nvidia-smi -q` header


def test_unknown_reasons_survive() -> None:
    topo = load(EXAMPLE / "topo-m.txt")
    again = loads(render(report_for(topo))).topology
    assert isinstance(again, Topology)
    assert again.gpus[0].memory_mib == topo.gpus[0].memory_mib  # Unknown("query-gpu not read") both sides
