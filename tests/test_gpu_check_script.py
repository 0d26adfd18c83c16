"""scripts/gpu-check.sh, as far as a machine without a GPU can check it: it parses, its dry run lists every
step (captures, the gpu tests), and without a driver it stops at once with one line and exit 3."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
NO_GPU = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}


def test_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


def test_dry_run_lists_every_step(tmp_path: Path) -> None:
    res = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(tmp_path / "out")], cwd=ROOT, env=NO_GPU,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    steps = res.stderr
    for needle in ("-m venv --system-site-packages", "pip install --quiet -e .[test]",
                   "nvidia-smi -q > captures/nvidia-smi-q.txt", "tpdoctor collect", "scan --probe nvml --json",
                   "scan --probe smi --json", "pytest -m 'gpu or multi_gpu' tests/gpu",
                   "--query-compute-apps=pid,gpu_uuid,used_memory"):
        assert needle in steps, needle
    assert "torch==" not in SCRIPT.read_text()  # never pulls torch: the machine's CUDA build is used
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_without_a_driver_it_stops_with_exit_3(tmp_path: Path) -> None:
    res = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], cwd=ROOT, env=NO_GPU,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 3
    assert res.stderr.strip() == "gpu-check: cannot run here: nvidia-smi not found (no NVIDIA driver on this machine)"
    assert not (tmp_path / "out").exists()


def test_gpu_tests_are_deselected_by_default_and_collected_with_the_markers() -> None:
    import sys

    def collect(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                               *args, "tests/gpu"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=False).stdout

    default = collect()
    assert "test_world_size_1_all_reduce_on_gloo" in default and "on_nccl" not in default
    marked = collect("-m", "gpu or multi_gpu")
    for name in ("test_live_nvml_scan_equals_nvidia_smi_scan_pair_by_pair", "test_collect_then_replay_round_trips",
                 "test_world_size_1_all_reduce_on_nccl", "test_nccl_all_reduce_on_every_gpu_and_pair",
                 "test_nvml_index_is_the_cuda_ordinal_by_pci_bus_id",
                 "test_the_benchmark_maps_nvml_indices_to_cuda_ordinals_under_cuda_visible_devices",
                 "test_a_real_cuda_process_is_found_by_the_live_path"):
        assert name in marked, name
