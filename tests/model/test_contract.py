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


# --- validation: a report that contradicts itself or leaves a range is refused, with the JSON path ---

def _data() -> dict:  # type: ignore[type-arg]
    return json.loads(report_json.render(sample()))


@pytest.mark.parametrize("change,message", [
    (lambda d: d["links"][0].update(b="GPU99"), r"\$\.links\[0\]\.b: GPU99 is not a GPU of this report"),
    (lambda d: d["links"][0].update(a="GPU1"), r"\$\.links\[0\]: a link from GPU1 to itself"),
    (lambda d: d["links"].append(dict(d["links"][0])), r"\$\.links\[1\]: GPU0-GPU1 listed twice"),
    (lambda d: d["links"].clear(), r"\$\.links: no link between GPU0 and GPU1"),
    (lambda d: d["links"][0].update(b="NIC0"), r"\$\.links\[0\]\.b: NIC0 is not a NIC of this report"),
    (lambda d: d["gpus"][1].update(index=0), r"\$\.gpus\[1\]\.index: GPU0 twice \(also \$\.gpus\[0\]\)"),
    (lambda d: d["gpus"][1].update(index=1024), r"\$\.gpus\[1\]\.index: 1024 is out of range \(0 to 1,023\)"),
    (lambda d: d["gpus"][1].update(index=-1), r"\$\.gpus\[1\]\.index: -1 is out of range"),
    (lambda d: d["links"][0].update(nvlinks=-5), r"\$\.links\[0\]\.nvlinks: -5 is out of range \(0 to 72\)"),
    (lambda d: d["links"][0].update(nvlinks=73), r"\$\.links\[0\]\.nvlinks: 73 is out of range"),
    (lambda d: d["links"][0].update(nvlinks_expected=10**40), r"nvlinks_expected: a 41-digit number is out of"),
    (lambda d: d["links"][0].update(path="NV0"), r"\$\.links\[0\]\.path: 'NV0' is not a topology path"),
    (lambda d: d["links"][0].update(path="nv12"), r"\$\.links\[0\]\.path: 'nv12' is not a topology path"),
    (lambda d: d["links"][0].update(nominal_gbps=float("inf")), r"nominal_gbps: inf is not a plausible"),
    (lambda d: d["links"][0]["evidence"].update(x=float("nan")), r"\$\.links\[0\]\.evidence\.x: nan is not a"),
    (lambda d: d["gpus"][0]["nvlinks"][0].update(peer=5), r"nvlinks\[0\]\.peer: GPU5 is not a GPU of this rep"),
    (lambda d: d["gpus"][0]["nvlinks"].append(d["gpus"][0]["nvlinks"][0]), r"NVLink 0 of GPU0 listed twice"),
    (lambda d: d["gpus"][0]["nvlinks"][0]["errors"].update(replay=-1), r"errors\.replay: -1 is out of range"),
    (lambda d: d["bench"][0].update(busbw_gbps=-0.5), r"\$\.bench\[0\]\.busbw_gbps: -0\.5 is out of range"),
    (lambda d: d["bench"][0].update(group=[0, -1]), r"\$\.bench\[0\]\.group\[1\]: -1 is out of range"),
    (lambda d: d["findings"][0].update(evidence={"a": json.loads("[" * 34 + "1" + "]" * 34)}),
     r"\$\.findings\[0\]\.evidence\.a.*: nested deeper than 32 levels"),
    (lambda d: d.update(unknown=["driver_version"]), r"\$\.unknown: expected an object of reasons, got list"),
    (lambda d: d["gpus"][0]["unknown"].update(memory_mib=5), r"\$\.gpus\[0\]\.unknown\.memory_mib: expected a "),
])
def test_a_report_that_contradicts_itself_is_refused_naming_the_path(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _data()
    change(data)
    with pytest.raises(ParseError, match=message):
        report_json.loads(json.dumps(data), source="r.json")


def test_refusals_of_json_itself_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="r.json: JSON nested too deep to be a report"):
        report_json.loads("[" * 50_000 + "]" * 50_000, source="r.json")
    with pytest.raises(ParseError, match="r.json: JSON with a number too long"):
        report_json.loads('{"schema": "tpdoctor/v1", "n": ' + "9" * 5000 + "}", source="r.json")


def test_error_messages_show_short_values() -> None:
    data = _data()
    data["host"] = ["x" * 100_000]
    with pytest.raises(ParseError) as info:
        report_json.loads(json.dumps(data))
    assert len(info.value.message) < 200, info.value.message


def test_every_bundled_and_scenario_topology_passes_validation() -> None:
    from tests.topologies import SCENARIOS, scenario

    for name in SCENARIOS:
        report_json.validate(Report(topology=scenario(name)), name)


def test_a_report_that_never_probed_its_node_may_list_no_links_but_not_some() -> None:
    data = _data()
    data["source"] = "bench"  # `tpdoctor bench --json` without --from: GPUs, measurements, no topology
    data["links"] = []
    assert report_json.loads(json.dumps(data)).topology.links == ()
    data["source"] = "snapshot"
    with pytest.raises(ParseError, match=r"\$\.links: no link between GPU0 and GPU1"):
        report_json.loads(json.dumps(data))
