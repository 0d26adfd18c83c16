"""NVML reads of a GPU's health (model/health.py): row remapping, retired pages, volatile ECC, clock event
reasons, the recovery action / reset status, and the pending MIG mode. Functions over an `NvmlReader` (its
`query` helper returns a value or `Unknown(<NVML error class>)`); `probes/nvml.py` calls `read_health`.

- remap_*: nvmlDeviceGetRemappedRows -> (corrRows, uncRows, isPending, failureOccurred); NotSupported before
  Ampere, or with MIG on;
- retired_pending: nvmlDeviceGetRetiredPagesPendingStatus -> 0/1; NotSupported on Ampere and newer;
- ecc_volatile_uncorrectable: nvmlDeviceGetTotalEccErrors(NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC);
  NotSupported with ECC off or absent;
- clocks_*: nvmlDeviceGetCurrentClocksEventReasons (535+), else nvmlDeviceGetCurrentClocksThrottleReasons;
- recovery_action, reset_required, drain_recommended: field 230 NVML_FI_DEV_GET_GPU_RECOVERY_ACTION (570+),
  else the deprecated fields 226 / 227 (NVML_FI_DEV_RESET_STATUS, NVML_FI_DEV_DRAIN_AND_RESET_STATUS);
- mig_pending: nvmlDeviceGetMigMode -> [current, pending].

A call that answers NVMLError_ResetRequired ("GPU requires reset") says what `reset_required` asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.model.health import DRAIN_ACTIONS, NOT_SUPPORTED, RECOVERY_ACTIONS, RESET_ACTIONS, GpuHealth
from tpdoctor.model.unknown import Maybe, Unknown

if TYPE_CHECKING:
    from tpdoctor.probes.nvml import NvmlReader

MEMORY_ERROR_UNCORRECTED, VOLATILE_ECC = 1, 0  # NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC
FI_RESET_STATUS, FI_DRAIN_STATUS, FI_RECOVERY_ACTION = 226, 227, 230
CLOCK_BITS = {"clocks_hw_slowdown": 0x8, "clocks_sw_thermal": 0x20, "clocks_hw_thermal": 0x40,
              "clocks_hw_power_brake": 0x80}  # nvmlClocksEventReason* (= the old ThrottleReason bits)
_UNSUPPORTED = ("NVMLError_NotSupported",)


def _na(value: Any) -> Any:
    """NotSupported is a definite "not on this GPU"; any other Unknown stays what it was."""
    return Unknown(NOT_SUPPORTED) if isinstance(value, Unknown) and value.reason in _UNSUPPORTED else value


def _memory(reader: NvmlReader, handle: Any, w: str) -> dict[str, Any]:
    rows = reader.query("nvmlDeviceGetRemappedRows", handle, what=w)
    out: dict[str, Any] = {}
    if isinstance(rows, Unknown):
        out.update(remap_pending=_na(rows), remap_failed=_na(rows), remap_uncorrectable=_na(rows))
    else:
        _corr, unc, pending, failure = (int(v) for v in rows)
        out.update(remap_pending=bool(pending), remap_failed=bool(failure), remap_uncorrectable=unc)
    retired = reader.query("nvmlDeviceGetRetiredPagesPendingStatus", handle, what=w)
    out["retired_pending"] = _na(retired) if isinstance(retired, Unknown) else bool(int(retired))
    ecc = reader.query("nvmlDeviceGetTotalEccErrors", handle, MEMORY_ERROR_UNCORRECTED, VOLATILE_ECC, what=w)
    out["ecc_volatile_uncorrectable"] = _na(ecc) if isinstance(ecc, Unknown) else int(ecc)
    return out


def _clocks(reader: NvmlReader, handle: Any, w: str) -> dict[str, Any]:
    mask = reader.query("nvmlDeviceGetCurrentClocksEventReasons", handle, what=w)
    if isinstance(mask, Unknown) and mask.reason not in _UNSUPPORTED:  # a driver older than 535
        mask = reader.query("nvmlDeviceGetCurrentClocksThrottleReasons", handle, what=w)
    if isinstance(mask, Unknown):
        return dict.fromkeys(CLOCK_BITS, _na(mask))
    return {name: bool(int(mask) & bit) for name, bit in CLOCK_BITS.items()}


def _reset(reader: NvmlReader, handle: Any, index: int) -> dict[str, Any]:
    fields = reader.fields(handle, index, [FI_RECOVERY_ACTION, FI_RESET_STATUS, FI_DRAIN_STATUS])
    action_code, reset, drain = fields[FI_RECOVERY_ACTION], fields[FI_RESET_STATUS], fields[FI_DRAIN_STATUS]
    action: Maybe[str] = _na(action_code) if isinstance(action_code, Unknown) else \
        RECOVERY_ACTIONS.get(action_code, f"action {action_code}")
    if isinstance(action, str):
        return {"recovery_action": action, "reset_required": action in RESET_ACTIONS,
                "drain_recommended": action in DRAIN_ACTIONS}
    return {"recovery_action": action,
            "reset_required": _na(reset) if isinstance(reset, Unknown) else bool(reset),
            "drain_recommended": _na(drain) if isinstance(drain, Unknown) else bool(drain)}


def read_health(reader: NvmlReader, handle: Any, index: int, mig_mode: Any) -> GpuHealth:
    """One GPU's health; `mig_mode` is what nvmlDeviceGetMigMode answered ([current, pending] or Unknown)."""
    w = f"GPU{index}"
    values: dict[str, Any] = {**_memory(reader, handle, w), **_clocks(reader, handle, w),
                              **_reset(reader, handle, index)}
    if any(isinstance(v, Unknown) and v.reason == "NVMLError_ResetRequired" for v in values.values()):
        values["reset_required"] = True  # the driver refuses to answer until the GPU is reset
    pending: Maybe[bool] = _na(mig_mode) if isinstance(mig_mode, Unknown) else bool(mig_mode[1] == 1)
    return GpuHealth(source="nvml", mig_pending=pending, **values)
