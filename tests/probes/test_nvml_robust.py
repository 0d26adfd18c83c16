"""NVML on real drivers (issue 11): unreadable far ends degrade one field, never the probe; the whole read
has a deadline of its own; field 147 counts as NVSwitch only above 0; unread port states are recorded."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import EXAMPLE
from tests.fakenvml import FIXTURES, load
from tests.fakenvml.machine import load_machine
from tpdoctor.model.coverage import not_made
from tpdoctor.model.settings import SettingError
from tpdoctor.model.topology import Gpu, LinkHealth, NvLinkPort, NvLinkState, RemoteType
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes.merge import merge
from tpdoctor.probes.nvml import NvmlDeadlineError, deadline_seconds, probe_nvml, read_facts
from tpdoctor.probes.nvml_facts import bus_id, nvlink_counts
from tpdoctor.probes.replay import load as replay


def test_the_whole_read_deadline_is_its_own() -> None:
    assert deadline_seconds(None, {}) == 30.0  # not the 10 s per-command nvidia-smi timeout
    assert deadline_seconds(10.0, {}) == 30.0
    assert deadline_seconds(None, {"TPDOCTOR_NVML_DEADLINE": "5"}) == 5.0
    assert deadline_seconds(12.0, {"TPDOCTOR_NVML_DEADLINE": "5"}) == 12.0  # never shorter than --timeout
    for bad in ("soon", "0", "-3", "inf", "nan", "1e9"):  # a finite number of seconds, 1 to 600
        with pytest.raises(SettingError, match=r"^\$TPDOCTOR_NVML_DEADLINE '.*': (not a|out of range)"):
            deadline_seconds(None, {"TPDOCTOR_NVML_DEADLINE": bad})


def test_an_init_slower_than_the_deadline_names_nvmlinit() -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-slow-nvml-init.yaml")
    machine.faults = {"delay": {"call": "nvmlInit", "seconds": 60}}
    release = threading.Event()
    try:
        with pytest.raises(NvmlDeadlineError, match=r"timed out after 0.3s: nvmlInit did not return"):
            read_facts(load(machine, sleep=lambda s: release.wait(s)), deadline_seconds=0.3)
    finally:
        release.set()


def test_bus_id_values() -> None:
    assert bus_id("00000000:1b:00.0") == "00000000:1B:00.0"
    assert bus_id("0000:1B:00.0") == "0000:1B:00.0"
    assert isinstance(bus_id(""), Unknown) and bus_id("").reason == "empty PCI bus id"  # type: ignore[union-attr]
    assert isinstance(bus_id("\x01\x02GPU"), Unknown)


def test_far_ends_unreadable_on_both_sides_and_no_p2p_is_unknown_then_nvidia_smi_counts_it() -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"remote_bus_id": {"mode": "empty"},
                      "errors": [{"call": "nvmlDeviceGetP2PStatus", "error": "NotSupported"}]}
    nvml = probe_nvml(load(machine), host="gpu01")
    pair = nvml.gpu_link(2, 3)
    assert pair is not None and pair.health is LinkHealth.UNKNOWN  # never a guessed 0 (down) nor ok
    assert "far ends of the active NVLinks of GPU2 and GPU3 unreadable" in pair.evidence["unseen"]
    assert {c.name for c in not_made(nvml)} >= {"links", "p2p"}
    merged = merge(nvml, replay(EXAMPLE))  # `--probe auto`: nvidia-smi's topo -m counts it
    pair = merged.gpu_link(2, 3)
    assert pair is not None and (pair.path, pair.health) == ("NV12", LinkHealth.OK)
    assert pair.evidence["nvlinks_from"] == "nvidia-smi"
    assert not not_made(merged)


def test_field_147_counts_only_above_zero() -> None:
    ports = tuple(NvLinkPort(k, NvLinkState.INACTIVE) for k in range(18))
    gpus = [Gpu(i, "NVIDIA H100 80GB HBM3", pci_bus_id=f"00000000:{i + 1:02X}:00.0", nvlinks=ports) for i in range(2)]
    _, switched, _ = nvlink_counts(gpus, {0: 0, 1: 0})
    assert switched is None  # success with 0 is not "on NVSwitch" (DCGM: > 0)
    counts, switched, _ = nvlink_counts(gpus, {0: 18, 1: 18})
    assert switched is True and counts[(0, 1)] == 18
    on_switch = tuple(NvLinkPort(k, NvLinkState.ACTIVE, remote_type=RemoteType.SWITCH) for k in range(18))
    _, switched, _ = nvlink_counts([Gpu(0, "x", nvlinks=on_switch)], {0: Unknown("NVMLError_NotSupported")})
    assert switched is True


def test_port_states_nvml_would_not_give_are_recorded_as_unread() -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"unsupported_fields": [91],
                      "errors": [{"call": "nvmlDeviceGetNvLinkState", "gpu": 2, "error": "Unknown"}]}
    topo = probe_nvml(load(machine), host="fake")
    g2 = topo.gpu(2)
    assert g2.nvlinks == () and "nvmlDeviceGetNvLinkState failed (NVMLError_Unknown)" in (g2.nvlinks_unread or "")
    assert topo.gpu(0).nvlinks_unread is None
    pair = topo.gpu_link(2, 3)
    assert pair is not None and pair.path == "NV12"  # counted from GPU3's side, which read every far end
    ports = next(c for c in topo.coverage if c.name == "nvlink_ports")
    assert ports.state.value == "not_made" and ports.subjects == ("GPU2",)
