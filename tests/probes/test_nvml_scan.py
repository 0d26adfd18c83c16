"""`tpdoctor scan` end to end on the fake NVML: the fake is put first on sys.path as `pynvml` (and the
fake nvidia-smi first on PATH for `--probe auto`); nothing in tpdoctor is patched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakenvml import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "fakenvml" / "shim"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"


def scan(fixture: str | Path, *args: str, smi_dir: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": f"{SHIM}{os.pathsep}{ROOT}", "TPD_FAKE_NVML": str(fixture),
            "TPDOCTOR_PROBE_TIMEOUT": "20", **(env or {})}
    if smi_dir is not None:
        full["PATH"] = f"{ROOT / 'tests' / 'fakesmi'}{os.pathsep}{full.get('PATH', '')}"
        full["FAKESMI_DIR"] = str(smi_dir)
    else:
        full["PATH"] = "/nonexistent"  # no nvidia-smi at all
    return subprocess.run([sys.executable, "-m", "tpdoctor", "scan", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def scan_json(fixture: str, *args: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    proc = scan(fixture, "--json", *args, **kw)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def link(data: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    return next(lk for lk in data["links"] if (lk["a"], lk["b"]) == (a, b))


def test_canonical_fault_in_json() -> None:
    rc, data = scan_json("h100nvl-4x-gpu01-nvlink-down", "--probe", "nvml")
    assert rc == 2 and data["status"] == "critical" and data["source"] == "nvml"
    lk = link(data, "GPU0", "GPU1")
    assert (lk["path"], lk["nvlinks"], lk["nvlinks_expected"], lk["health"]) == ("NODE", 0, 12, "down")
    assert lk["evidence"]["expected_from"] == "symmetry:bridge-pairs"
    assert data["driver_version"] == "550.54.15" and data["cuda_version"] == "12.4"


def test_one_link_down_counters_in_json() -> None:
    rc, data = scan_json("dgx-a100-one-nvlink-down", "--probe", "nvml")
    assert rc == 1 and data["status"] == "warning"
    assert (link(data, "GPU3", "GPU4")["path"], link(data, "GPU3", "GPU4")["health"]) == ("NV11", "degraded")
    port = data["gpus"][3]["nvlinks"][11]
    assert port["state"] == "inactive" and port["errors"] == {"replay": 1841, "recovery": 3, "crc_flit": 5120,
                                                             "crc_data": 17}


def test_fabric_manager_down_in_json() -> None:
    rc, data = scan_json("hgx-h100-fabric-manager-down", "--probe", "nvml")
    assert rc == 2
    assert {g["fabric"]["state"] for g in data["gpus"]} == {"not_started"}
    assert {lk["health"] for lk in data["links"]} == {"down"}


def test_pcie_gen4_x8_in_json() -> None:
    _, data = scan_json("hgx-h100-pcie-gen4-x8", "--probe", "nvml")
    pcie = data["gpus"][5]["pcie"]
    got = (pcie["gen_current"], pcie["width_current"], pcie["width_max"], pcie["gpu_gen_max"])
    assert got == (4, 8, 16, 5)


def test_lost_gpu_in_json() -> None:
    _, data = scan_json("hgx-h100-gpu-lost-halfway", "--probe", "nvml")
    g6 = data["gpus"][6]
    assert g6["status"] == "lost" and "NVMLError_GpuIsLost" in g6["status_reason"]
    assert [g["status"] for g in data["gpus"]].count("ok") == 7
    lk = link(data, "GPU5", "GPU6")
    assert lk["health"] == "unknown" and lk["evidence"]["gpu_status"]["GPU6"] == "lost"


def test_auto_merges_nvidia_smi(tmp_path: Path) -> None:
    rc, data = scan_json("h100nvl-4x-gpu01-nvlink-down", smi_dir=EXAMPLE)
    assert rc == 2 and data["source"] == "nvml"
    assert [n["name"] for n in data["nics"]] == ["mlx5_0", "mlx5_1"]  # only nvidia-smi sees NICs
    assert link(data, "GPU0", "NIC0")["path"] == "NODE"
    assert any("merged with nvidia-smi" in n for n in data["probe_notes"])


def test_auto_keeps_both_paths_when_probes_disagree(tmp_path: Path) -> None:
    # nvidia-smi captured while the bridge was still up: NV12 where NVML now reads NODE
    smi = tmp_path / "smi"
    smi.mkdir()
    for f in EXAMPLE.iterdir():
        text = f.read_text()
        if f.name == "topo-m.txt":
            text = text.replace("GPU0\t X \tNODE", "GPU0\t X \tNV12")
            text = text.replace("GPU1\tNODE\t X", "GPU1\tNV12\t X")
        (smi / f.name).write_text(text)
    _, data = scan_json("h100nvl-4x-gpu01-nvlink-down", smi_dir=smi)
    lk = link(data, "GPU0", "GPU1")
    assert lk["path"] == "NODE" and lk["evidence"]["paths"] == {"nvml": "NODE", "nvidia-smi": "NV12"}
    assert any("NVML reads NODE, nvidia-smi reads NV12" in n for n in data["probe_notes"])


def test_auto_falls_back_to_nvidia_smi_when_nvml_cannot_start(tmp_path: Path) -> None:
    spec = yaml.safe_load((FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml").read_text())
    spec["faults"] = {"init_error": "DriverNotLoaded"}
    fixture = tmp_path / "no-driver.yaml"
    fixture.write_text(yaml.safe_dump(spec))
    rc, data = scan_json(str(fixture), smi_dir=EXAMPLE)
    assert rc == 2 and data["source"] == "nvidia-smi"
    assert any("NVML unavailable" in n and "NVMLError_DriverNotLoaded" in n for n in data["probe_notes"])
    proc = scan(fixture, "--probe", "nvml")
    assert proc.returncode == 3 and "NVMLError_DriverNotLoaded" in proc.stderr and "hint:" in proc.stderr


def test_deadline_exits_3_naming_the_slow_call(tmp_path: Path) -> None:
    spec = yaml.safe_load((FIXTURES / "hgx-h100-nvswitch.yaml").read_text())
    spec["faults"] = {"delay": {"call": "nvmlDeviceGetNvLinkErrorCounter", "seconds": 30}}
    fixture = tmp_path / "wedged.yaml"
    fixture.write_text(yaml.safe_dump(spec))
    proc = scan(fixture, "--timeout", "1", env={"TPDOCTOR_NVML_DEADLINE": "1"})
    assert proc.returncode == 3 and proc.stdout == ""
    assert "timed out after 1s: nvmlDeviceGetNvLinkErrorCounter(GPU0 link 0)" in proc.stderr


@pytest.mark.parametrize("fixture", ["hgx-h100-gpu-lost-halfway", "hgx-h100-fabric-manager-down"])
def test_rich_view_through_the_cli(fixture: str) -> None:
    proc = scan(fixture, "--probe", "nvml", env={"COLUMNS": "160"})
    assert proc.stdout and proc.returncode in (0, 1, 2)
    assert ("GPU6 LOST" if "lost" in fixture else "fabric not_started") in proc.stdout
