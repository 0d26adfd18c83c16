"""The NVML fabric read over the fake library: GB200 fabric states, the v3 -> v2 -> legacy fallbacks, the
healthMask decoding, and the node's NVLink domain."""

from __future__ import annotations

import pytest

from tests.fakenvml import FIXTURES, load
from tests.fakenvml.machine import load_machine
from tpdoctor.model.fabric import decode_health_mask, healthy, node_domain
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes.nvml import probe_nvml

DOMAIN = "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766"


def probe(machine: object) -> object:
    return probe_nvml(load(machine), host="tray")  # type: ignore[arg-type]


def test_healthy_gb200_tray() -> None:
    topo = probe_nvml(load("gb200-nvl72-tray"), host="tray")
    f = topo.gpu(0).fabric
    assert f is not None
    assert (f.state, f.status, f.health, f.clique_id, f.cluster_uuid, f.health_mask) == (
        "completed", "success", "healthy", 32766, "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4", 0x0AA)
    assert (f.bandwidth, f.route_recovery, f.route_unhealthy, f.access_timeout_recovery) == ("full", False, False,
                                                                                             False)
    assert isinstance(f.incorrect_configuration, Unknown) and isinstance(f.partition_assigned, Unknown)
    assert healthy(f) is True and topo.nvlink_domain == DOMAIN
    assert {lk.path for lk in topo.gpu_links()} == {"NV18"}


@pytest.mark.parametrize(("fixture", "state", "status", "domain"), [
    ("gb200-tray-fabric-in-progress", "in_progress", None, "fabric not registered"),
    ("gb200-tray-fabric-status-error", "completed", "NVMLError_InsufficientResources", "fabric not registered"),
    ("gb200-tray-bandwidth-degraded", "completed", "success", DOMAIN),
    ("gb200-tray-other-clique", "completed", "success", "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.4026"),
])
def test_gb200_fabric_states(fixture: str, state: str, status: str | None, domain: str) -> None:
    topo = probe_nvml(load(fixture), host="tray")
    f = topo.gpu(3).fabric
    assert f is not None and f.state == state
    assert (None if isinstance(f.status, Unknown) else f.status) == status
    dom = topo.nvlink_domain
    assert (dom.reason.startswith(domain) if isinstance(dom, Unknown) else dom == domain)


def test_v2_only_driver_reads_the_mask_but_no_summary() -> None:
    """A driver that knows GpuFabricInfo v2 only answers the v3 struct with ARGUMENT_VERSION_MISMATCH: the
    probe retries with v2 (DCGM does the same) and keeps the health mask."""
    machine = load_machine(FIXTURES / "gb200-tray-bandwidth-degraded.yaml")
    machine.faults = {"fabric_struct_max": 2}
    fake = load(machine)
    topo = probe_nvml(fake, host="tray")
    f = topo.gpu(0).fabric
    assert f is not None and f.bandwidth == "degraded" and f.health_mask == 0x0A9
    assert isinstance(f.health, Unknown) and "struct version" in f.health.reason
    assert fake._fake_lib.calls["nvmlDeviceGetGpuFabricInfoV"] == 8  # v3 refused, v2 answered, per GPU


def test_driver_before_550_uses_the_legacy_call() -> None:
    machine = load_machine(FIXTURES / "gb200-nvl72-tray.yaml")
    machine.faults = {"missing_functions": ["nvmlDeviceGetGpuFabricInfoV"]}
    fake = load(machine)
    topo = probe_nvml(fake, host="tray")
    f = topo.gpu(0).fabric
    assert f is not None and f.state == "completed" and f.clique_id == 32766
    assert isinstance(f.health_mask, Unknown) and isinstance(f.bandwidth, Unknown)
    assert fake._fake_lib.calls["nvmlDeviceGetGpuFabricInfo"] == 4
    assert fake._fake_lib.calls["nvmlDeviceGetGpuFabricInfoV"] == 0  # missing: pynvml never reached C
    assert topo.nvlink_domain == DOMAIN


def test_hgx_h100_zero_uuid_is_no_domain() -> None:
    topo = probe_nvml(load("hgx-h100-nvswitch"), host="hgx")
    f = topo.gpu(0).fabric
    assert f is not None and f.cluster_uuid == "00000000-0000-0000-0000-000000000000" and f.clique_id == 0
    assert topo.nvlink_domain is None  # a single-node NVSwitch system: in no multi-node domain, never a shared one


def test_pre_hopper_has_no_fabric_and_no_domain() -> None:
    topo = probe_nvml(load("dgx-a100-nvswitch"), host="dgx")
    assert all(g.fabric is None for g in topo.gpus) and topo.nvlink_domain is None


def test_health_mask_decoding() -> None:
    assert decode_health_mask(0x0AA)["route_unhealthy"] is False
    assert decode_health_mask(0x099)["route_unhealthy"] is True and decode_health_mask(0x099)["bandwidth"] == "degraded"
    assert decode_health_mask(4 << 8)["incorrect_configuration"] == "no_partition"
    assert decode_health_mask(1 << 14)["gfm"] == "connected"
    assert all(isinstance(v, Unknown) for v in decode_health_mask(0).values())


def test_gpus_naming_different_domains_leave_the_node_domain_unknown() -> None:
    from dataclasses import replace

    topo = probe_nvml(load("gb200-nvl72-tray"), host="tray")
    gpus = tuple(replace(g, fabric=replace(g.fabric, clique_id=4026)) if g.index == 3 and g.fabric else g
                 for g in topo.gpus)
    dom = node_domain(gpus)
    assert isinstance(dom, Unknown) and "different NVLink domains" in dom.reason and "GPU3" in dom.reason
