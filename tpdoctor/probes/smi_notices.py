"""Lines nvidia-smi prints about the driver or one GPU, in the middle of any command's output.

Whatever the command (`topo -m`, `--query-gpu`, `-q`, `nvlink`), nvidia-smi may add lines that are not its
output format but the most important thing it has to say, and may exit non-zero after printing a complete
output. Seen in the field (fixtures/field/):

    Unable to determine the device handle for GPU 0000:0B:00.0: Unknown Error
    Unable to determine the device handle for GPU0000:65:00.0: Unknown Error      (no space, driver 525)
    Unable to determine the device handle for GPU 0000:02:00.0: GPU is lost. Reboot the system to recover this GPU
    WARNING: infoROM is corrupted at gpu 0000:B3:00.0                             (exit status 14)
    No devices were found
    NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. ...
    Failed to initialize NVML: Driver/library version mismatch

`split_notices` takes them out of a command's text (so the format parsers see their own format) and returns
them as `Notice`s; `failure_line` picks, from a failed command's output, the line that says what failed (a
notice or an error line, never a table header).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BUS = r"[0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]"
_HANDLE_RE = re.compile(
    rf"Unable to (?:determine|detect) the device handle for (?:GPU|gpu)?\s*(?P<bus>{_BUS})\s*:\s*(?P<why>.*?)\s*$")
_INFOROM_RE = re.compile(rf"WARNING:\s*infoROM is corrupted at gpu\s+(?P<bus>{_BUS})", re.IGNORECASE)
_NO_DEVICES_RE = re.compile(r"^No devices were found\.?$", re.IGNORECASE)
_NO_DRIVER_RE = re.compile(r"couldn't communicate with the NVIDIA driver|^Failed to initialize NVML\b|"
                           r"Driver/library version mismatch|^NVML library version:", re.IGNORECASE)
_FAILURE_WORDS = re.compile(r"error|fail|unable|warning|not found|no devices|lost|corrupt|requires reset|"
                            r"mismatch|insufficient|not supported|invalid", re.IGNORECASE)
KINDS = ("device_handle", "inforom", "no_devices", "no_driver")


@dataclass(frozen=True)
class Notice:
    kind: str  # one of KINDS
    line: str  # as printed, stripped
    bus_id: str | None = None  # "00000000:0B:00.0" (8-digit domain, upper case); None for node-wide notices
    reason: str = ""  # what the driver said of the GPU ("Unknown Error", "GPU is lost. Reboot ...")


def normalize_bus_id(text: str) -> str:
    """`0000:0b:00.0`, `000:BA:80.0`, `00000000:0B:00.0` -> `00000000:0B:00.0`."""
    domain, rest = text.strip().split(":", 1)
    return f"{int(domain, 16):08X}:{rest.upper()}"


def notice_of(line: str) -> Notice | None:
    s = line.strip()
    if m := _HANDLE_RE.search(s):
        return Notice("device_handle", s, normalize_bus_id(m.group("bus")), m.group("why").rstrip(".").strip())
    if m := _INFOROM_RE.search(s):
        return Notice("inforom", s, normalize_bus_id(m.group("bus")), "infoROM is corrupted")
    if _NO_DEVICES_RE.match(s):
        return Notice("no_devices", s, None, s)
    if _NO_DRIVER_RE.search(s):
        return Notice("no_driver", s, None, s)
    return None


def split_notices(text: str) -> tuple[str, tuple[Notice, ...]]:
    """The text with every notice line blanked (line numbers kept for parse errors), and the notices."""
    lines = text.split("\n")
    notices: list[Notice] = []
    for i, line in enumerate(lines):
        notice = notice_of(line)
        if notice is not None:
            notices.append(notice)
            lines[i] = ""
    return "\n".join(lines), tuple(notices)


def failure_line(text: str, limit: int = 200) -> str:
    """The line of a failed command's output that says what failed: a notice, else a line with an error word,
    else the last line (errors come last); never the table or CSV header a complete output starts with."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if notice_of(ln) is not None), None) \
        or next((ln for ln in lines if _FAILURE_WORDS.search(ln) and not ln.startswith(("GPU0", "index"))), None) \
        or (lines[-1] if lines else "")
    return pick if len(pick) <= limit else pick[: limit - 1] + "…"
