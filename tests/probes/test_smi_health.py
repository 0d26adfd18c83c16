"""`nvidia-smi -q` health, the MIG query, the `--query-gpu` failure cells and the notice lines, on real outputs
(fixtures/field/, fixtures/smi/query-health/, fixtures/collect/h100-sxm-vm-passthrough/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probes.corpus import SMI, captures, read
from tpdoctor.model.health import NOT_SUPPORTED
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes.smi_health import parse_query_health
from tpdoctor.probes.smi_notices import failure_line, notice_of, split_notices
from tpdoctor.probes.smi_query import parse_mig_csv, parse_query_gpu

FIX = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = FIX / "field"
NA = Unknown(NOT_SUPPORTED)


def health_of(path: Path) -> tuple[str, object, object]:
    q = parse_query_health(read(path), source=str(path))
    assert q.gpus, path
    g = q.gpus[0]
    return g.bus_id, g.mig, g.health


def test_a10_535_remapped_rows_pending_is_read() -> None:
    bus, mig, h = health_of(FIELD / "gpud/a10-remapped-rows-pending/query.txt")
    assert bus == "00000000:07:00.0" and mig is False  # MIG Mode N/A: a GPU without MIG
    assert (h.remap_pending, h.remap_failed, h.remap_uncorrectable) == (True, False, 4)  # type: ignore[attr-defined]
    assert h.retired_pending == NA and h.ecc_volatile_uncorrectable == 0  # type: ignore[attr-defined]
    assert h.reset_required is False and h.drain_recommended == NA  # type: ignore[attr-defined]
    assert not any((h.clocks_hw_slowdown, h.clocks_hw_power_brake, h.clocks_sw_thermal))  # type: ignore[attr-defined]


def test_h100_535_clock_events_under_hw_slowdown() -> None:
    _, _, h = health_of(FIELD / "gpud/h100-hw-slowdown-power-brake/query.txt")
    assert (h.clocks_hw_slowdown, h.clocks_hw_power_brake, h.clocks_hw_thermal) == (True, True, False)  # type: ignore[attr-defined]
    _, _, h = health_of(FIELD / "gpud/h100-power-brake-sw-thermal/query.txt")
    # the power brake child reads Active while its HW Slowdown parent reads Not Active
    assert (h.clocks_hw_slowdown, h.clocks_hw_power_brake, h.clocks_sw_thermal) == (False, True, True)  # type: ignore[attr-defined]


def test_580_recovery_action_replaces_the_reset_status() -> None:
    _, mig, h = health_of(FIX / "collect/h100-sxm-vm-passthrough/query.txt")
    assert mig is False and h.recovery_action == "none"  # type: ignore[attr-defined]
    assert h.reset_required is False and h.drain_recommended is False and h.mig_pending is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", captures(SMI / "query-health"), ids=lambda p: p.stem)
def test_older_spellings_and_excerpts(path: Path) -> None:
    bus, mig, h = health_of(path)
    if "kubeflow68" in path.name:  # "Clocks Throttle Reasons" (before 535), an excerpt without its GPU line
        assert bus == "" and not any((h.clocks_hw_slowdown, h.clocks_hw_thermal, h.clocks_hw_power_brake,  # type: ignore[attr-defined]
                                      h.clocks_sw_thermal))  # type: ignore[attr-defined]
    elif "nvdocker1090" in path.name:
        assert h.clocks_hw_slowdown is False and h.clocks_hw_thermal == NA == h.clocks_hw_power_brake  # type: ignore[attr-defined]
    elif "nvdocker1753" in path.name:
        assert h.reset_required == NA == h.drain_recommended  # type: ignore[attr-defined]
    elif "gpudpr80" in path.name:
        assert (h.remap_pending, h.remap_uncorrectable) == (True, 4)  # type: ignore[attr-defined]
        assert isinstance(h.remap_failed, Unknown) and h.remap_failed.reason != NOT_SUPPORTED  # type: ignore[attr-defined]
    else:  # driver 450, A100: MIG off, and nothing else of the section in the excerpt
        assert (bus, mig, h.mig_pending) == ("00000000:07:00.0", False, False)  # type: ignore[attr-defined]
        assert not h.memory_answered()  # type: ignore[attr-defined]


def test_pre_ampere_remapped_rows_na_and_pages_pending() -> None:
    text = ("GPU 00000000:15:00.0\n    ECC Errors\n        Volatile\n            Double Bit\n"
            "                Total                 : 2\n    Retired Pages\n"
            "        Pending Page Blacklist            : Yes\n    Remapped Rows                         : N/A\n")
    h = parse_query_health(text).gpus[0].health
    assert h.remap_pending == NA and h.retired_pending is True and h.ecc_volatile_uncorrectable == 2
    assert h.memory_answered()


def test_recovery_action_drain_and_reset() -> None:
    h = parse_query_health("GPU 00000000:18:00.0\n    GPU Recovery Action                : Drain and Reset\n"
                           ).gpus[0].health
    assert (h.recovery_action, h.drain_recommended, h.reset_required) == ("drain_and_reset", True, False)


def test_mig_query_real_outputs() -> None:
    rows = parse_mig_csv(read(FIELD / "dra-driver-nvidia-gpu/852-mig-enabled-gpu0/mig.csv"))
    assert [(r.index, r.current, r.pending) for r in rows] == [(0, True, True), (1, False, False),
                                                                  (2, False, False), (3, False, False)]
    assert rows[0].uuid == "GPU-ec845691-fb46-e16d-abfb-b135308cb39f" and not rows[0].has_index
    (row,) = parse_mig_csv(read(FIELD / "nvtop/470-mig-na-on-rtx/mig.csv"))  # `[N/A]`: no MIG on an RTX
    assert (row.current, row.pending, row.uuid) == (None, None, None)


def test_a_lost_gpu_in_query_gpu_is_a_row_not_a_rejected_csv() -> None:
    rows = parse_query_gpu("index, name, uuid, pci.bus_id, memory.total [MiB]\n"
                           "0, NVIDIA H100 80GB HBM3, GPU-a, 00000000:18:00.0, 81559 MiB\n"
                           "1, [GPU is lost], [GPU is lost], 00000000:2A:00.0, [GPU is lost]\n"
                           "2, [Unknown Error], [Unknown Error], 00000000:3A:00.0, [Unknown Error]\n")
    assert [(r.index, r.pci_bus_id, r.problem) for r in rows] == [
        (0, "00000000:18:00.0", None), (1, "00000000:2A:00.0", "[GPU is lost]"),
        (2, "00000000:3A:00.0", "[Unknown Error]")]


@pytest.mark.parametrize(("line", "kind", "bus", "reason"), [
    ("Unable to determine the device handle for GPU 0000:0B:00.0: Unknown Error.", "device_handle",
     "00000000:0B:00.0", "Unknown Error"),
    ("Unable to determine the device handle for GPU0000:65:00.0: Unknown Error", "device_handle",
     "00000000:65:00.0", "Unknown Error"),
    ("Unable to determine the device handle for GPU 000:BA:80.0: Unknown Error", "device_handle",
     "00000000:BA:80.0", "Unknown Error"),
    ("Unable to determine the device handle for GPU 0000:02:00.0: GPU is lost. Reboot the system to recover this "
     "GPU", "device_handle", "00000000:02:00.0", "GPU is lost. Reboot the system to recover this GPU"),
    ("WARNING: infoROM is corrupted at gpu 0000:B3:00.0", "inforom", "00000000:B3:00.0", "infoROM is corrupted"),
    ("No devices were found", "no_devices", None, "No devices were found"),
    ("Failed to initialize NVML: Driver/library version mismatch", "no_driver", None,
     "Failed to initialize NVML: Driver/library version mismatch"),
])
def test_notice_lines_of_the_field(line: str, kind: str, bus: str | None, reason: str) -> None:
    n = notice_of(line)
    assert n is not None and (n.kind, n.bus_id, n.reason) == (kind, bus, reason)


def test_the_failure_quoted_is_the_line_that_says_it_not_the_header() -> None:
    topo = read(FIX / "field/contexts/t4x1-aws/topo-m.txt")
    out = topo + "WARNING: infoROM is corrupted at gpu 0000:00:1E.0\n"
    assert failure_line(out) == "WARNING: infoROM is corrupted at gpu 0000:00:1E.0"
    csv = "index, name, uuid\n0, Tesla T4, GPU-x\n"
    assert failure_line(csv + "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error\n"
                        ).startswith("Unable to determine")
    clean, notices = split_notices(out)
    assert "infoROM" not in clean and clean.count("\n") == out.count("\n") and notices[0].kind == "inforom"


def test_all_links_inactive_is_a_read_of_every_port_not_a_silence() -> None:
    """"Unable to retrieve NVLink information as all links are inActive" lists every port of the SKU as dark
    (nvlink-status/016, 4x RTX 3090 without bridges): port states read, never "0 of 0 ports" or NOT CHECKED."""
    from tpdoctor.model.coverage import coverage
    from tpdoctor.probes import build

    topo_m = "\tGPU0\tGPU1\tGPU2\tGPU3\tCPU Affinity\tNUMA Affinity\n" + "".join(
        f"GPU{i}\t" + "\t".join(" X " if i == j else "PHB" for j in range(4)) + "\t0-31\t0\n" for i in range(4))
    status = read(SMI / "nvlink-status/016-audit-rtx3090x4-all-gpus-all-links-inactive.txt")
    parts = build.parse_outputs({build.TOPO_M: topo_m, build.NVLINK_STATUS: status})
    topo = build.build_topology(parts, host="audit", source="snapshot", captured_at="x")
    assert all(len(g.nvlinks) == 4 and g.nvlinks_unread is None for g in topo.gpus)
    assert next(c for c in coverage(topo) if c.name == "nvlink_ports").state.value == "made"


def test_all_links_inactive_on_a_gpu_the_catalogue_does_not_know_is_unread_not_no_nvlink() -> None:
    """The same line for a GPU whose SKU is unknown: nvidia-smi says it has NVLink and every link is down,
    but not how many ports. Never "no NVLink ports on these GPUs" (NOT_APPLICABLE, an OK node)."""
    from tpdoctor.model.coverage import coverage
    from tpdoctor.probes import build

    topo_m = "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\n" + "".join(
        f"GPU{i}\t" + "\t".join(" X " if i == j else "PHB" for j in range(2)) + "\t0-31\t0\n" for i in range(2))
    status = "".join(f"GPU {i}: NVIDIA Future Accelerator 9000 (UUID: GPU-0000000{i}-0000-0000-0000-000000000000)\n"
                     "NVML: Unable to retrieve NVLink information as all links are inActive\n" for i in range(2))
    parts = build.parse_outputs({build.TOPO_M: topo_m, build.NVLINK_STATUS: status})
    topo = build.build_topology(parts, host="audit", source="snapshot", captured_at="x")
    assert [g.name for g in topo.gpus] == ["NVIDIA Future Accelerator 9000"] * 2
    assert all(g.nvlinks == () and g.nvlinks_unread is not None and "inActive" in g.nvlinks_unread
               and "SKU catalogue" in g.nvlinks_unread for g in topo.gpus)
    ports = next(c for c in coverage(topo) if c.name == "nvlink_ports")
    assert ports.state.value == "not_made" and "GPU0" in ports.subjects, ports
