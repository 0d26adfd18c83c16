"""The tpdoctor/v1 JSON contract round-trips losslessly, Unknown reasons included."""

from __future__ import annotations

import json

import pytest

from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Report, Severity, Status, status_of
from tpdoctor.model.topology import (
    Fabric,
    Gpu,
    Link,
    LinkHealth,
    NvLinkErrors,
    NvLinkPort,
    NvLinkState,
    Pcie,
    Topology,
    normalize_path,
    ordered,
)
from tpdoctor.model.unknown import Unknown


def sample() -> Report:
    gpu = Gpu(0, "NVIDIA H100 NVL", uuid="GPU-1", memory_mib=Unknown("NVMLError_NoPermission"),
              nvlinks=(NvLinkPort(0, NvLinkState.INACTIVE, errors=NvLinkErrors(replay=3)),),
              pcie=Pcie(gen_current=5, gen_max=5, width_current=8, width_max=16),
              fabric=Fabric(state="completed", status="success"))
    topo = Topology(host="n1", source="fixture", captured_at="2026-11-21T00:00:00Z",
                    gpus=(gpu, Gpu(1, "NVIDIA H100 NVL")),
                    links=(Link("GPU0", "GPU1", "PHB", nvlinks=0, nvlinks_expected=12, health=LinkHealth.DOWN,
                                evidence={"expected_from": "sku:h100-nvl"}),))
    return Report(topology=topo,
                  bench=(BenchResult((0, 1), "gloo", 1024, 10.0, 0.1, 0.1, iterations=5),),
                  findings=(Finding("TPD100", "nvlink-down", Severity.CRITICAL, "GPU0-GPU1", "down"),),
                  status=Status.CRITICAL)


def test_round_trip_is_lossless() -> None:
    report = sample()
    text = report_json.render(report)
    data = json.loads(text)
    assert list(data)[0] == "schema" and data["schema"] == "tpdoctor/v1"
    assert data["gpus"][0]["memory_mib"] is None
    assert data["gpus"][0]["unknown"]["memory_mib"] == "NVMLError_NoPermission"
    assert report_json.loads(text) == report


@pytest.mark.parametrize("text,reason", [
    ("[1, 2]", "expected a JSON object"),
    ('{"schema": "tpdoctor/v2"}', "schema is 'tpdoctor/v2'"),
    ('{"schema": "tpdoctor/v1", "host": "h"}', "missing field"),
    ("{not json", "not JSON"),
])
def test_bad_json_is_a_parse_error(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        report_json.loads(text, source="x.json")


def test_path_vocabulary() -> None:
    assert normalize_path(" soc ") == "SYS" and normalize_path("PSB") == "PIX"
    assert normalize_path("nv12") == "NV12"
    for bad in ("NV0", "XYZ", "", "NV"):
        with pytest.raises(ValueError):
            normalize_path(bad)
    assert ordered("GPU10", "GPU2") == ("GPU2", "GPU10") and ordered("NIC0", "GPU7") == ("GPU7", "NIC0")


def test_status_of_ignores_suppressed_and_info() -> None:
    crit = Finding("TPD100", "nvlink-down", Severity.CRITICAL, "x", "m", suppressed=True)
    warn = Finding("TPD103", "pcie-link-degraded", Severity.WARNING, "x", "m")
    info = Finding("TPD209", "better-placement", Severity.INFO, "x", "m")
    assert status_of([crit, warn, info]) is Status.WARNING
    assert status_of([info]) is Status.OK
