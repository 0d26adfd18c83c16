"""The NVML probe against the fake machines: only the library is swapped in (the `lib` parameter)."""

from __future__ import annotations

import re
import threading
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from tests.fakenvml import FIXTURES, fixture_names, load
from tests.fakenvml.machine import load_machine
from tpdoctor.model.errors import ProbeError
from tpdoctor.model.topology import LinkHealth, NvLinkState, RemoteType, Topology
from tpdoctor.model.unknown import Unknown
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.nvml import NvmlDeadlineError, probe_nvml, read_facts
from tpdoctor.report.text import render

ROOT = Path(__file__).resolve().parents[2]


def probe(name: str) -> Topology:
    return probe_nvml(load(name), host="fake", deadline_seconds=30)


def rich_text(topo: Topology) -> str:
    buf = StringIO()
    render(report_for(topo), Console(file=buf, width=160, color_system=None))
    return buf.getvalue()


@pytest.mark.parametrize("name", fixture_names())
def test_every_machine_probes_without_error(name: str) -> None:
    topo = probe(name)
    machine = load_machine(FIXTURES / f"{name}.yaml")
    assert [g.index for g in topo.gpus] == list(range(len(machine.gpus)))
    assert topo.source == "nvml" and topo.driver_version == machine.driver_version
    n = len(topo.gpus)
    assert len(topo.gpu_links()) == n * (n - 1) // 2
    assert any(re.fullmatch(r"nvml: \d+ calls", note) for note in topo.probe_notes)


def test_canonical_h100_nvl_gpu0_gpu1_bridge_down() -> None:
    topo = probe("h100nvl-4x-gpu01-nvlink-down")
    down = topo.gpu_link(0, 1)
    assert down is not None
    assert (down.path, down.nvlinks, down.nvlinks_expected, down.health) == ("NODE", 0, 12, LinkHealth.DOWN)
    assert down.p2p == "OK" and down.p2p_detail["nvlink"] == "NS"
    ok = topo.gpu_link(2, 3)
    assert ok is not None and (ok.path, ok.health, ok.p2p_detail["nvlink"]) == ("NV12", LinkHealth.OK, "OK")
    g2 = topo.gpu(2)
    active = [p for p in g2.nvlinks if p.state is NvLinkState.ACTIVE]
    assert len(g2.nvlinks) == 18 and len(active) == 12
    seen = {(p.peer, p.remote_type, p.version, p.speed_gbps) for p in active}
    assert seen == {(3, RemoteType.GPU, 4, 26.562)}
    g0 = topo.gpu(0)
    assert all(p.state is NvLinkState.INACTIVE for p in g0.nvlinks)
    assert (g0.uuid, g0.pci_bus_id, g0.memory_mib, g0.numa_node, g0.cpu_affinity) == (
        "GPU-5d1c3e2a-8f41-4b7e-9c02-6a3f1e7b9d40", "00000000:1B:00.0", 95830, 0, "0-31,64-95")
    assert (g0.pcie.gen_current, g0.pcie.width_current, g0.pcie.gpu_gen_max) == (5, 16, 5)
    assert g0.mig is False and topo.cuda_version == "12.4"
    assert "✗NV12→NODE" in rich_text(topo)


def test_dgx_a100_nvswitch_all_nv12() -> None:
    topo = probe("dgx-a100-nvswitch")
    assert {lk.path for lk in topo.gpu_links()} == {"NV12"}
    assert {lk.health for lk in topo.gpu_links()} == {LinkHealth.OK}
    port = topo.gpu(0).nvlinks[0]
    assert (port.remote_type, port.version, port.speed_gbps, port.peer) == (RemoteType.SWITCH, 3, 25.0, None)
    assert topo.gpu(0).fabric is None  # pre-Hopper: the fabric calls raise NotSupported


def test_one_nvlink_of_twelve_down_is_degraded_with_counters() -> None:
    topo = probe("dgx-a100-one-nvlink-down")
    bad = [lk for lk in topo.gpu_links() if lk.health is not LinkHealth.OK]
    assert {lk.indices for lk in bad} == {tuple(sorted((3, j))) for j in range(8) if j != 3}
    assert {(lk.path, lk.health, lk.nvlinks_expected) for lk in bad} == {("NV11", LinkHealth.DEGRADED, 12)}
    link11 = topo.gpu(3).nvlinks[11]
    assert link11.state is NvLinkState.INACTIVE
    assert (link11.errors.replay, link11.errors.recovery, link11.errors.crc_flit, link11.errors.crc_data) == (
        1841, 3, 5120, 17)
    text = rich_text(topo)
    assert "!NV11/12" in text and "GPU3 link 11 errors" in text and "replay 1841" in text


def test_fabric_manager_down_every_pair_down_on_pcie() -> None:
    topo = probe("hgx-h100-fabric-manager-down")
    assert {lk.health for lk in topo.gpu_links()} == {LinkHealth.DOWN}
    assert {lk.path for lk in topo.gpu_links()} == {"NODE", "SYS"}
    assert all(lk.nvlinks_expected == 18 for lk in topo.gpu_links())
    assert {g.fabric.state for g in topo.gpus if g.fabric} == {"not_started"}
    assert len([g for g in topo.gpus if g.fabric]) == 8
    assert "fabric not_started" in rich_text(topo)


def test_healthy_hgx_h100_fabric_completed() -> None:
    topo = probe("hgx-h100-nvswitch")
    fab = topo.gpu(7).fabric
    assert fab is not None
    assert (fab.state, fab.status, fab.health) == ("completed", "success", "not_supported")
    assert {lk.path for lk in topo.gpu_links()} == {"NV18"}


def test_pcie_gen4_x8_instead_of_gen5_x16() -> None:
    topo = probe("hgx-h100-pcie-gen4-x8")
    p = topo.gpu(5).pcie
    assert (p.gen_current, p.width_current, p.gen_max, p.width_max, p.gpu_gen_max, p.replay_counter) == (
        4, 8, 4, 16, 5, 310)
    assert topo.gpu(4).pcie.gen_current == 5
    assert "Gen4 x8 (max Gen4 x16)" in rich_text(topo)


def test_gpu_lost_half_way_others_still_reported() -> None:
    topo = probe("hgx-h100-gpu-lost-halfway")
    lost = topo.gpu(6)
    assert lost.status == "lost" and "NVMLError_GpuIsLost" in (lost.status_reason or "")
    assert lost.name == "NVIDIA H100 80GB HBM3" and isinstance(lost.uuid, str)  # read before it fell off
    others = [g for g in topo.gpus if g.index != 6]
    assert all(g.status == "ok" and len(g.nvlinks) == 18 for g in others)
    for lk in topo.gpu_links():
        if 6 in lk.indices:
            assert lk.health is LinkHealth.UNKNOWN and lk.evidence["gpu_status"]["GPU6"] == "lost"
        else:
            assert (lk.path, lk.health) == ("NV18", LinkHealth.OK)
    assert "GPU6 LOST" in rich_text(topo)


def test_pcie_only_gpus_have_no_nvlink_and_no_false_down() -> None:
    topo = probe("rtx4090-8x-pcie-two-sockets")
    assert all(g.nvlinks == () for g in topo.gpus)
    assert {lk.health for lk in topo.gpu_links()} == {LinkHealth.OK}
    assert {lk.p2p for lk in topo.gpu_links()} == {"GNS"}


def test_fields_degrade_alone_with_the_error_name_as_evidence() -> None:
    machine = load_machine(FIXTURES / "hgx-h100-nvswitch.yaml")
    machine.faults = {"errors": [{"call": "nvmlDeviceGetMemoryInfo", "gpu": 1, "error": "NoPermission"},
                                 {"call": "nvmlDeviceGetTopologyCommonAncestor", "error": "NotSupported"}],
                      "missing_functions": ["nvmlDeviceGetGpuFabricInfoV"]}
    topo = probe_nvml(load(machine), host="fake")
    assert topo.gpu(1).memory_mib == Unknown("NVMLError_NoPermission")
    assert topo.gpu(0).memory_mib == 81559
    assert all(lk.pcie_path == Unknown("NVMLError_NotSupported") for lk in topo.gpu_links())
    assert all(lk.path == "NV18" for lk in topo.gpu_links())  # NVLink still known
    fab = topo.gpu(0).fabric  # driver < 550: fell back to the legacy fabric call
    assert fab is not None and fab.state == "completed" and isinstance(fab.health, Unknown)


@pytest.mark.parametrize(("error", "hint"), [
    ("LibraryNotFound", "libnvidia-ml.so.1"),
    ("DriverNotLoaded", "kernel module"),
    ("NoPermission", "/dev/nvidiactl"),
    ("LibRmVersionMismatch", "reboot"),
    ("Unknown", "daemon-reload"),
])
def test_init_failures_are_probe_errors_with_hints(error: str, hint: str) -> None:
    machine = load_machine(FIXTURES / "hgx-h100-nvswitch.yaml")
    machine.faults = {"init_error": error}
    with pytest.raises(ProbeError) as exc:
        read_facts(load(machine))
    assert f"NVMLError_{error}" in exc.value.message and hint in (exc.value.hint or "")


def test_deadline_names_the_slow_call() -> None:
    machine = load_machine(FIXTURES / "hgx-h100-nvswitch.yaml")
    machine.faults = {"delay": {"call": "nvmlDeviceGetTopologyCommonAncestor", "seconds": 60}}
    release = threading.Event()
    fake = load(machine, sleep=lambda seconds: release.wait(seconds))
    try:
        with pytest.raises(NvmlDeadlineError) as exc:
            read_facts(fake, deadline_seconds=0.5)
        assert "nvmlDeviceGetTopologyCommonAncestor(GPU0,GPU1)" in exc.value.message
        assert "0.5s" in exc.value.message and exc.value.hint
    finally:
        release.set()  # let the abandoned worker thread finish


def test_call_count_matches_what_the_library_saw() -> None:
    fake = load("hgx-h100-nvswitch")
    facts = read_facts(fake)
    assert facts.calls == sum(fake._fake_lib.calls.values())
    assert facts.calls_by_function["nvmlDeviceGetP2PStatus"] == 28 * 4


def test_only_probes_nvml_imports_pynvml() -> None:
    offenders = []
    for path in (ROOT / "tpdoctor").rglob("*.py"):
        if path == ROOT / "tpdoctor" / "probes" / "nvml.py":
            continue
        if re.search(r"^\s*(import pynvml|from pynvml)|pynvml\.", path.read_text(), re.M):
            offenders.append(str(path))
    assert offenders == []


def test_no_nvml_test_patches_the_probe() -> None:
    pattern = re.compile(r"monkeypatch|mock\.patch|probes\.nvml\.\w+\s*=|NvmlReader\.\w+\s*=")
    for path in (ROOT / "tests").rglob("test_nvml*.py"):
        text = path.read_text().replace(pattern.pattern, "")
        assert not pattern.search(text), path


@pytest.mark.parametrize("past_end", ["invalid_argument", "not_supported"])
def test_link_count_field_missing_walks_links_until_the_end(past_end: str) -> None:
    """P8: without NVML_FI_DEV_NVLINK_LINK_COUNT the probe walks links until InvalidArgument/NotSupported."""
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"unsupported_fields": [91], "past_last_link": past_end}
    topo = probe_nvml(load(machine), host="fake")
    assert [len(g.nvlinks) for g in topo.gpus] == [18, 18, 18, 18]
    assert topo.gpu_link(2, 3).path == "NV12"  # type: ignore[union-attr]


def test_mig_enabled_links_read_disabled_not_down() -> None:
    """P4: NVML reports the NVLinks of a MIG-enabled GPU as down; they are off by configuration."""
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    for g in machine.gpus[:2]:
        g.mig = [1, 1]
    topo = probe_nvml(load(machine), host="fake")
    assert topo.gpu(0).mig is True and topo.gpu(2).mig is False
    assert {p.state for p in topo.gpu(0).nvlinks} == {NvLinkState.DISABLED}
    assert {p.state for p in topo.gpu(2).nvlinks} == {NvLinkState.ACTIVE, NvLinkState.INACTIVE}


def test_a_peer_hidden_from_the_container_is_no_visible_gpu() -> None:
    """A container that sees GPU2 only: its NVLinks point at a bus id no visible GPU has."""
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.gpus = [machine.gpus[2]]
    machine.gpus[0].index = 0
    topo = probe_nvml(load(machine), host="fake")
    active = [p for p in topo.gpu(0).nvlinks if p.state is NvLinkState.ACTIVE]
    assert len(active) == 12 and {(p.peer, p.remote_pci_bus_id) for p in active} == {(None, "00000000:AD:00.0")}
    assert topo.links == ()


def test_gpu_lost_during_the_pair_reads() -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"lost": {"gpu": 3, "from_call": "nvmlDeviceGetTopologyCommonAncestor"}}
    topo = probe_nvml(load(machine), host="fake")
    assert [g.status for g in topo.gpus] == ["ok", "ok", "ok", "lost"]
    assert "nvmlDeviceGetTopologyCommonAncestor" in (topo.gpu(3).status_reason or "")
    assert len(topo.gpu(3).nvlinks) == 18  # read before it fell off
    assert topo.gpu_link(0, 1).pcie_path == "NODE"  # type: ignore[union-attr]
    for j in range(3):
        assert topo.gpu_link(j, 3).health is LinkHealth.UNKNOWN  # type: ignore[union-attr]


@pytest.mark.parametrize("name", fixture_names())
def test_nvml_topology_round_trips_through_the_json_contract(name: str) -> None:
    from tpdoctor.model.contract import loads
    from tpdoctor.model.contract import render as render_json

    topo = probe(name)
    assert loads(render_json(report_for(topo))).topology == topo


def test_a_surprise_from_the_library_is_a_probe_error_not_a_crash() -> None:
    """Something other than an NVMLError out of the library (here a bus id too long for pynvml's struct,
    which makes ctypes raise ValueError) fails the probe with the call named; it does not crash scan."""
    machine = load_machine(FIXTURES / "rtx4090-8x-pcie-two-sockets.yaml")
    machine.gpus[0].bus_id = "00000000:18:00.0" + "0" * 40  # overflows pynvml's busId char array
    with pytest.raises(ProbeError) as exc:
        read_facts(load(machine))
    assert "NVML probe failed during nvmlDeviceGetPciInfo(GPU0)" in exc.value.message
