"""Exit codes: the Nagios plugin convention, so cron jobs and monitoring agents can read them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3  # probe failed, bad input, usage error
