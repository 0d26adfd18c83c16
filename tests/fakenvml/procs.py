"""The fake library's compute-process table: `nvmlDeviceGetComputeRunningProcesses_v3` / `_v2` as the C
library answers them, for pynvml's own wrappers (`nvmlDeviceGetComputeRunningProcesses`).

The C contract (nvml.h, and pynvml's two-call use of it): called with a NULL array, it writes the number of
processes into `*infoCount` and returns NVML_ERROR_INSUFFICIENT_SIZE (NVML_SUCCESS when there are none);
called with an array of `*infoCount` `nvmlProcessInfo_v2_t` entries (pid, usedGpuMemory, gpuInstanceId,
computeInstanceId), it fills them and writes the count, or returns INSUFFICIENT_SIZE when the array is too
small. A GPU that is not a MIG device reports gpuInstanceId = computeInstanceId = 0xFFFFFFFF; a Windows WDDM
driver reports usedGpuMemory = NVML_VALUE_NOT_AVAILABLE (0xFFFF_FFFF_FFFF_FFFF), which pynvml turns into None.

Machine YAML (a list; `pid` may be the PID of a real process a test started):

    processes:
      - {gpu: 0, pid: 4242, used_memory_mib: 70000}
      - {gpu: 1, pid: 4243, used_memory_mib: 70000, gpu_instance_id: 1, compute_instance_id: 0}
      - {gpu: 2, pid: 4244, used_memory_mib: null}        # WDDM: not available
    faults:
      errors: [{call: nvmlDeviceGetComputeRunningProcesses, gpu: 1, error: NoPermission}]
      missing_functions: [nvmlDeviceGetComputeRunningProcesses_v3]   # an older driver: _v2 answers
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

SUCCESS, INSUFFICIENT_SIZE, INVALID_ARGUMENT = 0, 7, 2
NOT_AVAILABLE_UINT = 0xFFFFFFFF
NOT_AVAILABLE_ULL = 0xFFFFFFFFFFFFFFFF
CALL = "nvmlDeviceGetComputeRunningProcesses"  # the name per-call faults use (without _v2/_v3)


@dataclass(frozen=True)
class FakeProcess:
    gpu: int
    pid: int
    used_memory_mib: int | None = 512
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


def parse_processes(entries: Any, gpu_count: int, where: str) -> list[FakeProcess]:
    out: list[FakeProcess] = []
    for i, e in enumerate(entries or []):
        if not isinstance(e, dict) or not isinstance(e.get("pid"), int) or not isinstance(e.get("gpu"), int):
            raise ValueError(f"{where}: processes[{i}] needs an integer pid and gpu")
        if not 0 <= e["gpu"] < gpu_count:
            raise ValueError(f"{where}: processes[{i}] names GPU{e['gpu']}, the machine has {gpu_count}")
        out.append(FakeProcess(gpu=e["gpu"], pid=e["pid"], used_memory_mib=e.get("used_memory_mib", 512),
                               gpu_instance_id=e.get("gpu_instance_id"),
                               compute_instance_id=e.get("compute_instance_id")))
    return out


class ComputeProcesses:
    """Mixed into FakeNvmlLib: `self._gpu` and `self.machine` come from there."""

    machine: Any

    def _gpu(self, handle: Any, call: str) -> Any:  # pragma: no cover - FakeNvmlLib's
        raise NotImplementedError

    def _compute_processes(self, h: Any, count_ptr: Any, infos: Any) -> int:
        g = self._gpu(h, CALL)
        if isinstance(g, int):
            return g
        count = getattr(count_ptr, "_obj", count_ptr)
        if not isinstance(count, ctypes.c_uint):
            return INVALID_ARGUMENT
        mine = [p for p in self.machine.processes if p.gpu == g.index]
        if infos is None:
            count.value = len(mine)
            return INSUFFICIENT_SIZE if mine else SUCCESS
        if count.value < len(mine):
            count.value = len(mine)
            return INSUFFICIENT_SIZE
        for i, p in enumerate(mine):
            entry = infos[i]
            entry.pid = p.pid
            entry.usedGpuMemory = NOT_AVAILABLE_ULL if p.used_memory_mib is None else p.used_memory_mib * 1024 * 1024
            entry.gpuInstanceId = NOT_AVAILABLE_UINT if p.gpu_instance_id is None else p.gpu_instance_id
            entry.computeInstanceId = NOT_AVAILABLE_UINT if p.compute_instance_id is None else p.compute_instance_id
        count.value = len(mine)
        return SUCCESS

    def c_nvmlDeviceGetComputeRunningProcesses_v3(self, h: Any, count: Any, infos: Any) -> int:
        return self._compute_processes(h, count, infos)

    def c_nvmlDeviceGetComputeRunningProcesses_v2(self, h: Any, count: Any, infos: Any) -> int:
        return self._compute_processes(h, count, infos)
