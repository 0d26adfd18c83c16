"""The probes' time limits, in one place: the code, `--help`, README and docs/ all state these
(tests/test_defaults.py holds them to it)."""

from __future__ import annotations

DEFAULT_TIMEOUT_SECONDS = 10.0  # each nvidia-smi command
TIMEOUT_ENV = "TPDOCTOR_PROBE_TIMEOUT"
# The whole NVML read has a deadline of its own, not the per-command nvidia-smi timeout: nvmlInit alone
# takes seconds when persistence mode is off (docs/nvml.md, "Cost"). $TPDOCTOR_NVML_DEADLINE overrides it.
DEFAULT_DEADLINE_SECONDS = 30.0
DEADLINE_ENV = "TPDOCTOR_NVML_DEADLINE"

TIMEOUT_HELP = (f"Timeout for each nvidia-smi command (default {DEFAULT_TIMEOUT_SECONDS:g}, or ${TIMEOUT_ENV}); the "
                f"whole NVML read has its own deadline, {DEFAULT_DEADLINE_SECONDS:g} s (${DEADLINE_ENV}), never "
                "shorter.")
