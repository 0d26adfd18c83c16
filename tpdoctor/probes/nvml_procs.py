"""The driver's compute-process table through NVML: which processes hold a CUDA context on which GPU.

`nvmlDeviceGetComputeRunningProcesses_v3` (the `nvmlProcessInfo_v2_t` struct pynvml names v3: pid,
usedGpuMemory, gpuInstanceId, computeInstanceId) per GPU, inside the same NVML session and deadline as the
rest of the read (`probes/nvml.py`), through `NvmlReader.query` like every other call. The versioned
wrapper is called by name: pynvml's unversioned `nvmlDeviceGetComputeRunningProcesses` turns a driver without
the `_v3` entry point into NVMLLibraryMismatchError (its `throwOnVersionMismatch`), not an NVMLError; such a
driver answers through `_v2`. A GPU that refuses (NoPermission, NotSupported) makes the table unread with
why, never "no processes". PIDs are the driver's: the host's PID namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.model.running import PID_MAX, ComputeProcess, Running
from tpdoctor.model.unknown import Unknown

if TYPE_CHECKING:
    from tpdoctor.probes.nvml import NvmlReader
    from tpdoctor.probes.nvml_facts import NvmlFacts

CALL = "nvmlDeviceGetComputeRunningProcesses_v3"
OLDER = "nvmlDeviceGetComputeRunningProcesses_v2"
NOT_AVAILABLE_UINT = 0xFFFFFFFF  # NVML_VALUE_NOT_AVAILABLE for unsigned int fields (not a MIG device)
MAX_ROWS = 4096  # per GPU: the driver lists a few per GPU; anything past this is not a table to trust


def _row(index: int, info: Any) -> ComputeProcess | None:
    pid = int(info.pid)
    if not 0 < pid <= PID_MAX:
        return None
    used = info.usedGpuMemory  # pynvml turns NVML_VALUE_NOT_AVAILABLE (WDDM) into None
    gi, ci = int(info.gpuInstanceId), int(info.computeInstanceId)
    return ComputeProcess(pid=pid, gpu=index,
                          used_memory_mib=Unknown("not available (NVML_VALUE_NOT_AVAILABLE)") if used is None
                          else int(used) // (1024 * 1024),
                          gpu_instance_id=None if gi == NOT_AVAILABLE_UINT else gi,
                          compute_instance_id=None if ci == NOT_AVAILABLE_UINT else ci)


def compute_processes(reader: NvmlReader, handles: dict[int, Any]) -> tuple[tuple[ComputeProcess, ...], str | None]:
    """(the rows of every readable GPU, why the table is incomplete or None)."""
    rows: list[ComputeProcess] = []
    failed: list[str] = []
    for index, handle in sorted(handles.items()):
        got = reader.query(CALL, handle, what=f"GPU{index}")
        if isinstance(got, Unknown) and got.reason == "NVMLError_FunctionNotFound":
            got = reader.query(OLDER, handle, what=f"GPU{index}")
        if isinstance(got, Unknown):
            failed.append(f"GPU{index}: nvmlDeviceGetComputeRunningProcesses {got.reason}")
            continue
        for info in list(got)[:MAX_ROWS]:
            row = _row(index, info)
            if row is not None:
                rows.append(row)
    why = None
    if failed:
        why = f"the compute-process table was not read for {len(failed)} GPU(s) ({failed[0]})"
    return tuple(rows), why


def running_table(facts: NvmlFacts) -> Running:
    """The table as the snapshot carries it until /proc is read (`probes/running.py`)."""
    return Running(source="nvml", table=facts.compute_processes, table_unread=facts.compute_unread,
                   pid_namespace="unknown (the PIDs were not looked up in /proc)")
