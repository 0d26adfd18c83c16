"""`tpdoctor health` over the fake-NVML fixture machines (fixtures/nvml/): each fault names its rule first
with the right exit code; healthy machines exit 0 with no finding. One run goes through the live probe
path in a subprocess (the pynvml shim), the rest replay the NVML snapshot in-process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakenvml import fixture_names, load
from tpdoctor.cli import main
from tpdoctor.model import contract as report_json
from tpdoctor.model.findings import Report
from tpdoctor.probes.nvml import probe_nvml

ROOT = Path(__file__).resolve().parents[2]
EXPECT = {  # fixture -> (exit code, first rule or None, what the summary line starts with)
    "dgx-a100-nvswitch": (0, None, "TPDOCTOR OK - 8 GPUs, 28 NVLink pairs healthy"),
    "dgx-a100-one-nvlink-down": (1, "TPD101", "TPDOCTOR WARNING - GPU0-GPU3 NVLink degraded: 11/12"),
    "h100nvl-4x-gpu01-nvlink-down": (2, "TPD100", "TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12)"),
    "hgx-h100-fabric-manager-down": (2, "TPD105", "TPDOCTOR CRITICAL - GPU0 NVSwitch fabric not ready (not_started)"),
    "hgx-h100-gpu-lost-halfway": (2, "TPD108", "TPDOCTOR CRITICAL - GPU6 (00000000:B9:00.0, GPU-"),
    "hgx-h100-health-faults": (2, "TPD137", "TPDOCTOR CRITICAL - GPU7: row remapping failed (9 row(s)"),
    "hgx-h100-nvswitch": (0, None, "TPDOCTOR OK - 8 GPUs, 28 NVLink pairs healthy"),
    "hgx-h100-pcie-gen4-x8": (1, "TPD103", "TPDOCTOR WARNING - GPU5 PCIe link at Gen4 x8"),
    "rtx-a6000-nvlink-bridge": (0, None, "TPDOCTOR OK - 3 GPUs, 1 NVLink pair healthy"),
    "rtx4090-8x-pcie-two-sockets": (0, None, "TPDOCTOR OK - 8 GPUs healthy"),
    "v100-hybrid-cube-mesh": (0, None, "TPDOCTOR OK - 8 GPUs, 16 NVLink pairs healthy"),
    # issue 11 (docs/health.md, the verdict matrix): root causes, and NVML read robustly
    "hgx-a100-fabric-manager-down": (2, "TPD110", "TPDOCTOR CRITICAL - NVSwitch fabric down: every NVLink of "
                                                  "all 8 GPUs is dark (28 GPU pairs on PCIe)"),
    "hgx-h100-gpu3-nvlinks-dark": (2, "TPD111", "TPDOCTOR CRITICAL - GPU3 lost every NVLink: its 7 NVLink pairs "
                                                "are down"),
    "h100nvl-4x-remote-bus-id-bad-bytes": (2, "TPD100", "TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12)"),
    "h100nvl-4x-vm-empty-remote-bus-ids": (0, None, "TPDOCTOR OK - 4 GPUs, 2 NVLink pairs healthy"),
    "h100nvl-4x-slow-nvml-init": (2, "TPD100", "TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12)"),
    "hgx-h100-4gpu-mesh-field147-zero": (0, None, "TPDOCTOR OK - 4 GPUs, 6 NVLink pairs healthy"),
    # GB200 NVL72 trays through NVML alone (IMEX not collected: the verdict claims nothing about it)
    "gb200-nvl72-tray": (0, None, "TPDOCTOR OK - 4 GPUs, 6 NVLink pairs healthy"),
    "gb200-tray-other-clique": (0, None, "TPDOCTOR OK - 4 GPUs, 6 NVLink pairs healthy"),
    "gb200-tray-fabric-in-progress": (2, "TPD105", "TPDOCTOR CRITICAL - GPU0 NVSwitch fabric not ready (in_progress)"),
    "gb200-tray-fabric-status-error": (2, "TPD105", "TPDOCTOR CRITICAL - GPU0 NVSwitch fabric not ready (completed, "
                                                   "status NVMLError_InsufficientResources)"),
    "gb200-tray-bandwidth-degraded": (1, "TPD121", "TPDOCTOR WARNING - GPU0 NVLink fabric degraded (health summary "
                                                   "limited capacity, bandwidth degraded)"),
    # H100 SXM passed through to a VM whose driver exposes no NVLink port (the real capture, and two of them)
    "h100-sxm-vm-passthrough-1gpu": (0, None, "TPDOCTOR OK - 1 GPU healthy"),
    "h100-sxm-vm-passthrough-2gpu": (1, "TPD125", "TPDOCTOR WARNING - GPU0, GPU1 are passed through to a VM and the "
                                                  "driver exposes no NVLink port"),
}


def test_every_fixture_machine_has_an_expectation() -> None:
    assert sorted(EXPECT) == sorted(fixture_names())


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_health_on_fixture_machine(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rule, summary = EXPECT[name]
    snap = tmp_path / "snapshot.json"
    snap.write_text(report_json.render(Report(topology=probe_nvml(load(name), host="fake"))))
    rc = main(["health", "--from", str(snap), "--json"])
    captured = capsys.readouterr()
    first = captured.err.split("\n", 1)[0]
    assert rc == code
    assert first.startswith(summary), first
    findings = json.loads(captured.out)["findings"]
    if rule is None:
        assert findings == []
    else:
        assert findings[0]["rule"] == rule


def test_live_probe_through_the_pynvml_shim(tmp_path: Path) -> None:
    shim = ROOT / "tests" / "fakenvml" / "shim"
    env = {**os.environ, "PYTHONPATH": f"{shim}{os.pathsep}{ROOT}", "TPD_FAKE_NVML": "h100nvl-4x-gpu01-nvlink-down"}
    prom = tmp_path / "tpdoctor.prom"
    res = subprocess.run([sys.executable, "-m", "tpdoctor", "health", "--probe", "nvml", "--prometheus", str(prom)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2, res.stderr
    assert res.stdout.startswith("TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12)")
    assert re.search(r'tpdoctor_link_up\{gpu="0",UUID="GPU-[^"]+",pci_bus_id="[0-9A-F]{8}:[0-9A-F]{2}:00.0",'
                     r'Hostname="[^"]+",peer_gpu="1"\} 0', prom.read_text())
