"""NVML health reads (probes/nvml_health.py) through the real pynvml on the fake NVML library."""

from __future__ import annotations

from pathlib import Path

from tests.fakenvml import load
from tpdoctor.model.health import NOT_SUPPORTED, GpuHealth
from tpdoctor.model.unknown import Unknown
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.nvml import probe_nvml

FAULTS = "hgx-h100-health-faults"


def test_one_fault_per_gpu_read_and_judged() -> None:
    topo = probe_nvml(load(FAULTS), host="hgx")
    h = {g.index: g.health for g in topo.gpus}
    assert all(isinstance(x, GpuHealth) and x.source == "nvml" for x in h.values())
    assert (h[1].remap_pending, h[1].remap_uncorrectable) == (True, 4)  # type: ignore[union-attr]
    assert (h[2].clocks_hw_slowdown, h[2].clocks_hw_power_brake) == (True, True)  # type: ignore[union-attr]
    assert h[3].ecc_volatile_uncorrectable == 3  # type: ignore[union-attr]
    assert (h[4].recovery_action, h[4].reset_required) == ("gpu_reset", True)  # type: ignore[union-attr]
    assert (h[5].recovery_action, h[5].drain_recommended) == ("drain_and_reset", True)  # type: ignore[union-attr]
    assert (topo.gpu(6).mig, h[6].mig_pending) == (False, True)  # type: ignore[union-attr]
    assert h[7].remap_failed is True and h[0].retired_pending == Unknown(NOT_SUPPORTED)  # type: ignore[union-attr]
    report = report_for(topo)
    found = sorted((f.rule, f.subject) for f in report.findings)
    assert found == [("TPD135", "GPU6"), ("TPD136", "GPU1"), ("TPD137", "GPU7"), ("TPD138", "GPU3"),
                     ("TPD140", "GPU4"), ("TPD141", "GPU5"), ("TPD142", "GPU2")]
    assert report.status.value == "critical"  # the failed remap and the reset


def test_an_older_driver_answers_through_the_throttle_call_and_its_reset_fields(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "fixtures/nvml" / f"{FAULTS}.yaml").read_text()
    old = text.replace('driver_version: "570.124.06"', 'driver_version: "530.30.02"').replace(
        "health: {recovery_action: 1}", "health: {reset_status: 1}").replace(
        "health: {recovery_action: 4}", "health: {drain_status: 1}") + \
        "faults: {missing_functions: [nvmlDeviceGetCurrentClocksEventReasons]}\n"
    (tmp_path / "old.yaml").write_text(old)
    lib = load(tmp_path / "old.yaml")
    topo = probe_nvml(lib, host="hgx")
    g2, g4 = topo.gpu(2).health, topo.gpu(4).health
    assert isinstance(g2, GpuHealth) and g2.clocks_hw_power_brake is True  # via ...ClocksThrottleReasons
    assert lib._fake_lib.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 8
    # no recovery action before 570: the (now deprecated) reset-status fields 226 and 227 answer
    g5 = topo.gpu(5).health
    assert isinstance(g4, GpuHealth) and g4.recovery_action == Unknown(NOT_SUPPORTED) and g4.reset_required is True
    assert isinstance(g5, GpuHealth) and (g5.drain_recommended, g5.reset_required) == (True, False)
    assert next(c for c in topo.coverage if c.name == "gpu_health").state.value == "made"


def test_a_gpu_that_requires_a_reset_says_so_through_its_errors(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "fixtures/nvml/hgx-h100-nvswitch.yaml").read_text()
    fault = "    - {call: nvmlDeviceGetRemappedRows, gpu: 3, error: ResetRequired}\n"
    (tmp_path / "reset.yaml").write_text(text + "faults:\n  errors:\n" + fault)
    h = probe_nvml(load(tmp_path / "reset.yaml"), host="hgx").gpu(3).health
    assert isinstance(h, GpuHealth) and h.reset_required is True


def test_merge_keeps_what_only_nvidia_smi_says() -> None:
    """The infoROM warning and a GPU nvidia-smi cannot get a handle for come only from nvidia-smi: the merged
    view keeps both (a missing GPU NVML read is a note, not a second finding)."""
    from dataclasses import replace

    from tpdoctor.model.health import MissingGpu
    from tpdoctor.probes.merge import merge

    nvml = probe_nvml(load("hgx-h100-nvswitch"), host="hgx")
    g0 = nvml.gpu(0)
    assert isinstance(g0.health, GpuHealth)
    smi = replace(nvml, gpus=tuple(replace(g, health=replace(g0.health, inforom_corrupted=True, source="smi"))
                                   if g.index == 0 else g for g in nvml.gpus),
                  missing=(MissingGpu(bus_id="00000000:D9:00.0", reason="Unable ... Unknown Error", source="driver"),
                           MissingGpu(bus_id=g0.pci_bus_id, reason="Unable ... Unknown Error", source="driver")))
    merged = merge(nvml, smi)
    h = merged.gpu(0).health
    assert isinstance(h, GpuHealth) and h.inforom_corrupted and h.source == "nvml"
    assert [m.bus_id for m in merged.missing] == ["00000000:D9:00.0"]
    assert any("NVML reads that GPU" in n for n in merged.probe_notes)
