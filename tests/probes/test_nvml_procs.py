"""The compute-process table through the real pynvml on the fake C library (tests/fakenvml/procs.py), and
through nvidia-smi when NVML cannot give it."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from tests.fakenvml import FIXTURES, load
from tests.fakenvml.clib import FakeNvmlLib
from tests.fakenvml.machine import load_machine
from tests.fakenvml.procs import FakeProcess
from tpdoctor.model.errors import ParseError
from tpdoctor.model.running import ComputeProcess
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes.nvml import probe_nvml, read_facts
from tpdoctor.probes.replay import example_path
from tpdoctor.probes.replay import load as replay
from tpdoctor.probes.running import parse_compute_apps

CANONICAL = FIXTURES / "h100nvl-4x-gpu01-nvlink-down.yaml"


def machine(*procs: FakeProcess, faults: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    m = load_machine(CANONICAL)
    m.processes = list(procs)
    m.faults = faults or {}
    return m


def test_rows_as_nvml_gives_them() -> None:
    m = machine(FakeProcess(0, 4242, 70000), FakeProcess(1, 4242, None), FakeProcess(2, 77, 1024, 1, 0))
    facts = read_facts(load(m))
    assert facts.compute_unread is None
    assert facts.compute_processes == (
        ComputeProcess(4242, 0, 70000), ComputeProcess(4242, 1, Unknown("not available (NVML_VALUE_NOT_AVAILABLE)")),
        ComputeProcess(77, 2, 1024, gpu_instance_id=1, compute_instance_id=0))
    assert facts.calls_by_function["nvmlDeviceGetComputeRunningProcesses_v3"] == 4  # one per GPU


def test_an_older_driver_answers_through_v2() -> None:
    m = machine(FakeProcess(3, 9), faults={"missing_functions": ["nvmlDeviceGetComputeRunningProcesses_v3"]})
    facts = read_facts(load(m))
    assert facts.compute_processes == (ComputeProcess(9, 3, 512),)
    assert facts.calls_by_function["nvmlDeviceGetComputeRunningProcesses_v2"] == 4


def test_a_gpu_that_refuses_makes_the_table_unread_not_empty() -> None:
    m = machine(FakeProcess(0, 9), faults={"errors": [{"call": "nvmlDeviceGetComputeRunningProcesses", "gpu": 1,
                                                       "error": "NoPermission"}]})
    facts = read_facts(load(m))
    assert facts.compute_unread is not None and "GPU1" in facts.compute_unread
    assert "NVMLError_NoPermission" in facts.compute_unread


def test_probe_carries_the_table_only_when_asked() -> None:
    lib = load(machine(FakeProcess(2, 5)))
    assert probe_nvml(lib).running is None
    running = probe_nvml(load(machine(FakeProcess(2, 5))), processes=True).running
    assert running is not None and running.table == (ComputeProcess(5, 2, 512),)
    assert running.pid_namespace.startswith("unknown")  # the PIDs are looked up by probes/running.py


def test_the_table_is_not_queried_when_not_wanted() -> None:
    """TPDOCTOR_RUNNING=0 (processes=False): no compute-process call spends the NVML deadline."""
    lib = load(machine(FakeProcess(2, 5)))
    probe_nvml(lib)
    calls = lib._fake_lib.calls  # type: ignore[attr-defined]
    assert not [name for name, n in calls.items() if "ComputeRunningProcesses" in name and n]
    lib = load(machine(FakeProcess(2, 5)))
    probe_nvml(lib, processes=True)
    assert lib._fake_lib.calls["nvmlDeviceGetComputeRunningProcesses_v3"] >= 4  # type: ignore[attr-defined]


def test_the_fake_speaks_the_c_contract() -> None:
    """NULL array: the count and INSUFFICIENT_SIZE (SUCCESS when none); a short array: INSUFFICIENT_SIZE;
    entries are pynvml's own nvmlProcessInfo_v2_t with 0xFFFFFFFF instance ids off MIG."""
    pynvml = load(machine(FakeProcess(0, 1), FakeProcess(0, 2)))
    lib: FakeNvmlLib = pynvml._fake_lib  # type: ignore[attr-defined]
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    count = ctypes.c_uint(0)
    fn = lib.nvmlDeviceGetComputeRunningProcesses_v3
    assert fn(handle, ctypes.byref(count), None) == pynvml.NVML_ERROR_INSUFFICIENT_SIZE and count.value == 2
    small = (pynvml.c_nvmlProcessInfo_v3_t * 1)()
    count.value = 1
    assert fn(handle, ctypes.byref(count), small) == pynvml.NVML_ERROR_INSUFFICIENT_SIZE
    infos = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    assert [(i.pid, i.gpuInstanceId, i.computeInstanceId) for i in infos] == [(1, 0xFFFFFFFF, 0xFFFFFFFF)] * 1 + [
        (2, 0xFFFFFFFF, 0xFFFFFFFF)]
    empty = pynvml.nvmlDeviceGetHandleByIndex(3)
    assert pynvml.nvmlDeviceGetComputeRunningProcesses(empty) == []
    pynvml.nvmlShutdown()


def test_nvidia_smi_rows_are_mapped_to_gpus_by_uuid() -> None:
    topo = replay(example_path())
    text = ("4242, GPU-3b8f6d27-e910-47a5-8c3d-f25b7a0e1c96, 70123 MiB\n"
            "4243, GPU-c40e2a95-71b8-4d6f-a3e0-9b1f5c8d2a37, [N/A]\n"
            "99, GPU-00000000-0000-0000-0000-000000000000, 1 MiB\n")
    rows, notes = parse_compute_apps(text, topo)
    assert rows == (ComputeProcess(4242, 2, 70123), ComputeProcess(4243, 3, Unknown("nvidia-smi used_memory '[N/A]'")))
    assert notes == ("PID 99 holds GPU-00000000-0000-0000-0000-000000000000, a GPU this topology does not list",)
    assert parse_compute_apps("No running processes found\n", topo) == ((), ())
    with pytest.raises(ParseError):
        parse_compute_apps("\x1b[2Jgarbage, here\n", topo)


def test_nvidia_smi_fallback_through_the_cli(run_cli, fakesmi_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--probe smi`: the table from `nvidia-smi --query-compute-apps`; here it names this test's own PID."""
    import os

    apps = tmp_path / "apps.csv"
    apps.write_text(f"{os.getpid()}, GPU-3b8f6d27-e910-47a5-8c3d-f25b7a0e1c96, 1024 MiB\n")
    res = run_cli("health", "--probe", "smi", "--json", "--ignore", "TPD100:known",
                  env={**fakesmi_env(), "FAKESMI_APPS": str(apps)})
    import json

    running = json.loads(res.stdout)["running"]
    assert running["source"] == "nvidia-smi" and running["table"][0]["pid"] == os.getpid()
    assert [g["gpus"] for g in running["groups"]] == [[2]]
