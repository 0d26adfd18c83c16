"""The fake NVML's health calls: row remapping, retired pages, volatile ECC, clock event reasons and the
recovery-action / reset-status fields, answering from each GPU's `health` (machine.py).

Fixture keys (per GPU, under `health:`; every key optional, defaults by architecture as real GPUs answer):

    health:
      remapped_rows: [0, 4, 1, 0]      # corrRows, uncRows, isPending, failureOccurred; not_supported (pre-Ampere)
      retired_pending: 0               # nvmlDeviceGetRetiredPagesPendingStatus; not_supported (Ampere+)
      ecc_volatile_uncorrected: 0      # nvmlDeviceGetTotalEccErrors(UNCORRECTED, VOLATILE); not_supported: ECC off
      clocks_event_reasons: 0x1        # bitmask (nvmlClocksEventReason*); the old Throttle call answers the same
      recovery_action: 0               # field 230 NVML_FI_DEV_GET_GPU_RECOVERY_ACTION; not_supported (< 570)
      reset_status: 0                  # field 226 (deprecated), drain_status: field 227 (deprecated)
"""

from __future__ import annotations

from typing import Any

NOT_SUPPORTED_WORD = "not_supported"
SUCCESS, NOT_SUPPORTED = 0, 3
FI_RESET_STATUS, FI_DRAIN_STATUS, FI_RECOVERY_ACTION = 226, 227, 230
REMAP_ARCHS = frozenset({7, 8, 9, 10, 13})  # Ampere and newer remap rows; older GPUs retire pages


def health_defaults(arch: int, spec: dict[str, Any] | None, driver: str) -> dict[str, Any]:
    """What a healthy GPU of this architecture and driver answers, overridden by the fixture's `health`."""
    major = int(driver.split(".")[0]) if driver.split(".")[0].isdigit() else 0
    base: dict[str, Any] = {
        "remapped_rows": [0, 0, 0, 0] if arch in REMAP_ARCHS else NOT_SUPPORTED_WORD,
        "retired_pending": NOT_SUPPORTED_WORD if arch in REMAP_ARCHS else 0,
        "ecc_volatile_uncorrected": 0,
        "clocks_event_reasons": 0x1,
        "recovery_action": 0 if major >= 570 else NOT_SUPPORTED_WORD,
        "reset_status": 0,
        "drain_status": 0,
    }
    return {**base, **(spec or {})}


class HealthCalls:
    """Mixed into FakeNvmlLib (which supplies `_gpu` and `_put`)."""

    def _health(self, h: Any, call: str, key: str) -> Any:
        g = self._gpu(h, call)  # type: ignore[attr-defined]
        if isinstance(g, int):
            return g
        value = g.health.get(key, NOT_SUPPORTED_WORD)
        return NOT_SUPPORTED if value == NOT_SUPPORTED_WORD else ("ok", value)

    def c_nvmlDeviceGetRemappedRows(self, h: Any, corr: Any, unc: Any, pending: Any, failure: Any) -> int:
        got = self._health(h, "nvmlDeviceGetRemappedRows", "remapped_rows")
        if isinstance(got, int):
            return got
        for out, value in zip((corr, unc, pending, failure), got[1], strict=True):
            self._put(out, int(value))  # type: ignore[attr-defined]
        return SUCCESS

    def c_nvmlDeviceGetRetiredPagesPendingStatus(self, h: Any, out: Any) -> int:
        got = self._health(h, "nvmlDeviceGetRetiredPagesPendingStatus", "retired_pending")
        return got if isinstance(got, int) else self._put(out, int(got[1]))  # type: ignore[attr-defined]

    def c_nvmlDeviceGetTotalEccErrors(self, h: Any, error_type: Any, counter_type: Any, out: Any) -> int:
        got = self._health(h, "nvmlDeviceGetTotalEccErrors", "ecc_volatile_uncorrected")
        if isinstance(got, int):
            return got
        kinds = (getattr(error_type, "value", error_type), getattr(counter_type, "value", counter_type))
        return self._put(out, int(got[1]) if kinds == (1, 0) else 0)  # type: ignore[attr-defined]

    def _clocks(self, h: Any, out: Any, call: str) -> int:
        g = self._gpu(h, call)  # type: ignore[attr-defined]
        if isinstance(g, int):
            return g
        return self._put(out, int(g.health.get("clocks_event_reasons", 0)))  # type: ignore[attr-defined]

    def c_nvmlDeviceGetCurrentClocksEventReasons(self, h: Any, out: Any) -> int:
        # a driver older than 535 lacks it: list it under the machine's faults.missing_functions
        return self._clocks(h, out, "nvmlDeviceGetCurrentClocksEventReasons")

    def c_nvmlDeviceGetCurrentClocksThrottleReasons(self, h: Any, out: Any) -> int:
        return self._clocks(h, out, "nvmlDeviceGetCurrentClocksThrottleReasons")

    @staticmethod
    def health_field(g: Any, fid: int) -> int | None:
        """The value of a health field id for this GPU, None when not supported."""
        key = {FI_RESET_STATUS: "reset_status", FI_DRAIN_STATUS: "drain_status",
               FI_RECOVERY_ACTION: "recovery_action"}.get(fid)
        if key is None:
            return None
        value = g.health.get(key, NOT_SUPPORTED_WORD)
        return None if value == NOT_SUPPORTED_WORD else int(value)


__all__ = ["HealthCalls", "health_defaults"]
