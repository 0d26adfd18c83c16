"""NVML first, nvidia-smi fills gaps: the merge, `probe_live` selection and `collect`'s NVML snapshot,
with the fake NVML passed as the library and nvidia-smi served from a collect directory by a runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tests.fakenvml import FIXTURES, load
from tests.fakenvml.machine import load_machine
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes import probe_live
from tpdoctor.probes.collect import collect
from tpdoctor.probes.merge import merge
from tpdoctor.probes.nvml import probe_nvml
from tpdoctor.probes.replay import load as replay
from tpdoctor.probes.runner import CommandFailed, CommandResult, Runner
from tpdoctor.probes.running import APPS_FILE, SMI_ARGS
from tpdoctor.probes.smi_probe import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
FILES = {args: name for name, args in COMMANDS}
FILES[SMI_ARGS] = APPS_FILE


def smi_runner(directory: Path) -> Runner:
    def run(argv: Sequence[str], *, timeout_seconds: float) -> CommandResult:
        path = directory / FILES[tuple(argv[1:])]
        if path.name == APPS_FILE and not path.exists():  # nvidia-smi prints nothing when nothing runs
            return CommandResult(tuple(argv), "", "", 0, 0.01)
        if not path.exists():  # as the fake nvidia-smi: nothing captured for this command
            raise CommandFailed(f"{' '.join(argv)} exited with status 2", hint=None, returncode=2, stdout="",
                                stderr=f"fakesmi: nothing to replay for {path.name}")
        return CommandResult(tuple(argv), path.read_text(), "", 0, 0.01)
    return run


def test_merge_fills_unknown_fields_from_nvidia_smi() -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"errors": [{"call": "nvmlDeviceGetCpuAffinity", "gpu": 2, "error": "NoPermission"},
                                 {"call": "nvmlDeviceGetP2PStatus", "error": "Unknown"}]}
    nvml = probe_nvml(load(machine), host="gpu01")
    assert nvml.gpu(2).cpu_affinity == Unknown("NVMLError_NoPermission")
    assert isinstance(nvml.gpu_link(2, 3).p2p, Unknown)  # type: ignore[union-attr]
    merged = merge(nvml, replay(EXAMPLE))
    assert merged.gpu(2).cpu_affinity == "32-63,96-127"
    assert merged.gpu(2).pcie.gpu_gen_max == 5  # only NVML knows the GPU's own maximum
    lk = merged.gpu_link(0, 1)
    assert lk is not None and lk.health.value == "down" and "paths" not in lk.evidence
    assert [n.name for n in merged.nics] == ["mlx5_0", "mlx5_1"]
    assert merged.gpu_link(2, 3).p2p == "OK"  # type: ignore[union-attr]  # nvidia-smi filled it


def test_merge_keeps_a_lost_gpu_lost() -> None:
    nvml = probe_nvml(load("hgx-h100-gpu-lost-halfway"), host="h")
    smi = replay(ROOT / "fixtures" / "smi" / "topo-m" / "004-aws-p5-h100x8-nv18.txt")
    merged = merge(nvml, smi)
    assert merged.gpu(6).status == "lost"
    lk = merged.gpu_link(5, 6)
    assert lk is not None and lk.evidence["paths"] == {"nvml": "SYS", "nvidia-smi": "NV18"}


def test_probe_live_kinds() -> None:
    runner = smi_runner(EXAMPLE)
    assert probe_live("nvml", runner=runner, nvml_lib=load("h100nvl-4x-gpu01-nvlink-down")).source == "nvml"
    assert probe_live("smi", runner=runner).source == "nvidia-smi"
    auto = probe_live("auto", runner=runner, nvml_lib=load("h100nvl-4x-gpu01-nvlink-down"))
    assert auto.source == "nvml" and auto.nics


def test_collect_saves_the_nvml_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "node"
    result = collect(out, smi_runner(EXAMPLE), nvml_lib=load("h100nvl-4x-gpu01-nvlink-down"))
    assert result.parse_error is None and "snapshot.json" in result.files
    data = json.loads((out / "snapshot.json").read_text())
    assert data["source"] == "nvml" and data["gpus"][0]["pcie"]["gpu_gen_max"] == 5
    assert data["gpus"][2]["nvlinks"][0]["remote_pci_bus_id"] == "00000000:AD:00.0"
    again = replay(out)  # the directory replays (from the raw outputs)
    assert [g.index for g in again.gpus] == [0, 1, 2, 3]
    assert again.gpus[0].name == "NVIDIA H100 NVL"


def test_collect_without_nvml_notes_why(tmp_path: Path) -> None:
    machine = load_machine(FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml")
    machine.faults = {"init_error": "LibraryNotFound"}
    result = collect(tmp_path / "node", smi_runner(EXAMPLE), nvml_lib=load(machine))
    assert any("NVMLError_LibraryNotFound" in n for n in result.notes)
    assert json.loads((tmp_path / "node" / "snapshot.json").read_text())["source"] == "nvidia-smi"
