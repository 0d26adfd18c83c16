"""`nvidia-smi -q` Fabric blocks: every capture in fixtures/smi/query-fabric/ parses to what its `.meta.yaml`
expects; the composed GB200 tray collect directories replay to the fabric states (and findings) they hold;
the NVML view of the same states agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.probes.corpus import SMI, captures, meta, read
from tpdoctor.model import fabric
from tpdoctor.model.errors import ParseError
from tpdoctor.model.unknown import Unknown
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.replay import load
from tpdoctor.probes.smi_fabric import parse_query_fabric

ROOT = Path(__file__).resolve().parents[2]
CORPUS = captures(SMI / "query-fabric")


def _known(value: Any) -> Any:
    return None if isinstance(value, Unknown) else value


def test_the_corpus_is_there_with_provenance() -> None:
    assert len(CORPUS) >= 9
    for p in CORPUS:
        assert meta(p)["source_url"], p


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_query_fabric_capture(path: Path) -> None:
    want = meta(path)["expected"]
    got = parse_query_fabric(read(path), source=path.name)
    assert len(got.gpus) == want.pop("gpus")
    f = got.gpus[0].fabric
    for key, value in want.items():
        if key == "driver":
            assert got.driver_version == value
        elif key == "fabric":
            assert f is value is None
        elif key == "domain":
            assert fabric.domain_of(f) == value
        elif key == "healthy":
            assert fabric.healthy(f) is value
        elif key in ("state",):
            assert f is not None and f.state == value
        elif key in ("status", "clique_id", "cluster_uuid", "health", "bandwidth", "route_unhealthy"):
            assert f is not None and _known(getattr(f, key)) == value, key
        else:
            pytest.fail(f"unknown expectation {key!r}")


def test_wide_and_narrow_key_columns_parse_alike() -> None:
    """The key column moved from 43 to 56 between drivers: lines are split on " : ", never by column."""
    narrow = "Fabric\n    State : Completed\n    Status : Success\n    CliqueId : 7\n"
    wide = "Fabric\n    State" + " " * 40 + ": Completed\n    Status" + " " * 39 + ": Success\n    CliqueId    : 7\n"
    assert parse_query_fabric(narrow).gpus[0].fabric == parse_query_fabric(wide).gpus[0].fabric


def test_not_nvidia_smi_q_is_a_parse_error_naming_the_line() -> None:
    with pytest.raises(ParseError, match="not `nvidia-smi -q` output"):
        parse_query_fabric("hello\nworld\n", source="x.txt")
    with pytest.raises(ParseError) as exc:
        parse_query_fabric("GPU 00000000:01:00.0\n    Fabric\n        State : Completed\n        garbage\n",
                           source="q.txt")
    assert exc.value.line == 4 and "Key : Value" in exc.value.reason
    with pytest.raises(ParseError, match="CliqueId"):
        parse_query_fabric("Fabric\n    State : Completed\n    CliqueId : many\n")


TRAYS = {  # collect dir -> (state per GPU, node domain, status, first rules)
    "gb200-tray-healthy": (["completed"] * 4, "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766", "ok", []),
    "gb200-tray-route-unhealthy": (["completed"] * 4, "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766", "critical",
                                   ["TPD120"]),
    "gb200-tray-fabric-in-progress": (["in_progress"] * 4, None, "critical", ["TPD105"] * 4),
    "gb200-tray-insufficient-resources": (["completed"] * 4, None, "critical", ["TPD105"] * 4),
    "gb200-tray-imex-degraded": (["completed"] * 4, "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766", "warning",
                                 ["TPD124"]),
}


@pytest.mark.parametrize("name", sorted(TRAYS))
def test_replayed_gb200_tray(name: str) -> None:
    states, domain, status, rules = TRAYS[name]
    topo = load(ROOT / "fixtures" / "collect" / name)
    assert [g.fabric.state for g in topo.gpus if g.fabric] == states
    assert [g.name for g in topo.gpus] == ["NVIDIA GB200"] * 4
    assert topo.driver_version == "580.159.04"  # from the -q header
    assert (topo.nvlink_domain if isinstance(topo.nvlink_domain, str) else None) == domain
    if domain is None:
        assert isinstance(topo.nvlink_domain, Unknown) and "not registered" in topo.nvlink_domain.reason
    report = report_for(topo)
    assert report.status.value == status
    assert [f.rule for f in report.findings if f.judged] == rules


def test_gb200_nvml_and_nvidia_smi_agree_on_the_fabric() -> None:
    """The fake-NVML healthy tray and the nvidia-smi -q healthy tray: same domain, same health fields."""
    from tests.fakenvml import load as fake
    from tpdoctor.probes.nvml import probe_nvml

    nvml = probe_nvml(fake("gb200-nvl72-tray"), host="t")
    smi = load(ROOT / "fixtures" / "collect" / "gb200-tray-healthy")
    assert nvml.nvlink_domain == smi.nvlink_domain
    for a, b in zip(nvml.gpus, smi.gpus):
        assert a.fabric is not None and b.fabric is not None
        for attr in ("state", "status", "health", "clique_id", "cluster_uuid", "bandwidth", "route_recovery",
                     "route_unhealthy", "access_timeout_recovery"):
            assert getattr(a.fabric, attr) == getattr(b.fabric, attr), attr


def test_merge_takes_the_fabric_nvidia_smi_read_when_nvml_could_not() -> None:
    from dataclasses import replace

    from tests.fakenvml import load as fake
    from tpdoctor.probes.merge import merge
    from tpdoctor.probes.nvml import probe_nvml

    nvml = probe_nvml(fake("gb200-nvl72-tray"), host="t")
    nvml = replace(nvml, gpus=tuple(replace(g, fabric=None) for g in nvml.gpus), nvlink_domain=None)
    merged = merge(nvml, load(ROOT / "fixtures" / "collect" / "gb200-tray-route-unhealthy"))
    assert merged.gpu(2).fabric is not None and merged.gpu(2).fabric.route_unhealthy is True
    assert merged.nvlink_domain == "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766"
    assert merged.imex is not None and merged.imex.domain == "UP"
