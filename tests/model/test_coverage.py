"""The coverage record: which checks a snapshot supports, derived from what the probes could not read."""

from __future__ import annotations

from dataclasses import replace

from tests.topologies import h100_nvl_4gpu, l4_pcie_4gpu, nvswitch_node, scenario
from tpdoctor.model.coverage import coverage, not_made, with_coverage
from tpdoctor.model.topology import CheckState, NvLinkErrors, Pcie, Topology
from tpdoctor.model.unknown import Unknown


def states(topo: Topology) -> dict[str, str]:
    return {c.name: c.state.value for c in coverage(topo)}


def test_a_full_snapshot_makes_every_check_that_applies() -> None:
    assert states(h100_nvl_4gpu()) == {"links": "made", "nvlink_ports": "made", "gpu_info": "made",
                                       "nvlink_errors": "made", "p2p": "made", "fabric": "not_applicable",
                                       "gpu_health": "made"}
    assert states(nvswitch_node(8))["fabric"] == "made"
    pcie_only = states(l4_pcie_4gpu())
    assert pcie_only["nvlink_ports"] == pcie_only["nvlink_errors"] == pcie_only["fabric"] == "not_applicable"


def test_missing_evidence_names_the_subjects_the_reason_and_the_command() -> None:
    topo = h100_nvl_4gpu()
    why = Unknown("`nvidia-smi --query-gpu=...` timed out after 10 s")
    gpus = tuple(replace(g, pcie=Pcie(gen_max=why, width_current=why, width_max=why)) if g.index == 3 else g
                 for g in topo.gpus)
    (gap,) = not_made(replace(topo, gpus=gpus))
    assert (gap.name, gap.subjects, gap.command.split("=")[0]) == ("gpu_info", ("GPU3",), "nvidia-smi --query-gpu")
    assert "timed out after 10 s" in gap.reason


def test_unread_ports_leave_links_ports_and_errors_unchecked() -> None:
    assert {c.name for c in not_made(scenario("h100-nvl-ports-unread"))} == {"links", "nvlink_ports", "nvlink_errors"}


def test_counters_unreadable_vs_unsupported() -> None:
    topo = h100_nvl_4gpu()
    unread = NvLinkErrors()  # "not read"
    unsupported = NvLinkErrors(*(Unknown("NVMLError_NotSupported"),) * 4)  # Blackwell: no DL counters

    def with_errors(errors: NvLinkErrors) -> Topology:
        return replace(topo, gpus=tuple(replace(g, nvlinks=tuple(replace(p, errors=errors) for p in g.nvlinks))
                                        for g in topo.gpus))

    assert states(with_errors(unread))["nvlink_errors"] == "not_made"
    assert states(with_errors(unsupported))["nvlink_errors"] == "not_applicable"


def test_an_nvswitch_board_without_fabric_state_is_not_checked_a_pre_hopper_one_needs_none() -> None:
    hgx = nvswitch_node(8)
    assert states(replace(hgx, gpus=tuple(replace(g, fabric=None) for g in hgx.gpus)))["fabric"] == "not_made"
    assert states(scenario("hgx-a100-all-dark"))["fabric"] == "not_applicable"


def test_a_bench_only_report_claims_no_topology_check() -> None:
    bench = Topology(host="h", source="bench", captured_at="t", gpus=())
    assert set(states(bench).values()) == {"not_applicable"}


def test_with_coverage_is_what_the_json_carries() -> None:
    topo = with_coverage(scenario("h100-nvl-ports-unread"))
    assert topo.coverage == coverage(topo)
    assert [c for c in topo.coverage if c.state is CheckState.NOT_MADE] == list(not_made(topo))
