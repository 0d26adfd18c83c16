"""`nvidia-smi -q` text -> each GPU's `Fabric` block and virtualization mode (and the driver and CUDA
versions of the header).

The block sits under every GPU, after `Voltage` (samples in fixtures/smi/query-fabric/):

    GPU 00000008:01:00.0
        Product Name                          : NVIDIA GB200
        ...
        Fabric
            State                             : Completed
            Status                            : Success
            CliqueId                          : 32766
            ClusterUUID                       : 3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4
            Health
                Summary                       : Healthy
                Bandwidth                     : Full
                ...

Driver 535 prints State and Status only; 550/560 add CliqueId, ClusterUUID and Health/Bandwidth; 570+
add Summary, Route Recovery in progress, Route Unhealthy, Access Timeout Recovery; 580 also Incorrect
Configuration and Partition Assigned. The key column's width changed between drivers (values at column 43
or 56), so a line is split on its first " : ", never by column; the block is whatever is indented deeper
than its `Fabric` line. `N/A` means not supported / not known yet: an Unknown, never a guess. A GPU whose
State is N/A has no fabric (as NVML's NotSupported on pre-Hopper GPUs). `GPU Virtualization Mode /
Virtualization Mode` ("None", "Pass-Through", "VGPU", "Host VGPU", "Host VSGA") is the GPU's
`virtualization` (model/virtualization.py); a section without it leaves the mode unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tpdoctor.model.errors import ParseError
from tpdoctor.model.fabric import INCORRECT_CONFIGURATION
from tpdoctor.model.topology import Fabric
from tpdoctor.model.unknown import Unknown
from tpdoctor.model.virtualization import MODES, from_text
from tpdoctor.probes.smi_text import Line, clean_lines

_GPU_RE = re.compile(r"^GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_NOT_OUTPUT = re.compile(r"^\s*(\[.*\]|--)\s*$")  # "[... omitted ...]" elisions, grep group separators
_NA = ("n/a", "[n/a]", "not supported", "[not supported]")
STATES = {"completed": "completed", "in progress": "in_progress", "not started": "not_started",
          "not supported": "not_supported"}
SUMMARY = {"healthy": "healthy", "unhealthy": "unhealthy", "limited capacity": "limited_capacity"}
# nvidia-smi prints an nvmlReturn's text; NVML names them NVMLError_<Class> (the NVML Python binding's error classes)
STATUS_CLASS = {"insufficient permissions": "NoPermission", "unknown error": "Unknown",
                "gpu is lost": "GpuIsLost", "insufficient external power": "InsufficientPower",
                "nvml shared library not found": "LibraryNotFound"}
_BOOL_KEYS = {"route recovery in progress": "route_recovery", "route unhealthy": "route_unhealthy",
              "access timeout recovery": "access_timeout_recovery", "partition assigned": "partition_assigned"}


@dataclass(frozen=True)
class GpuFabric:
    """One GPU section of `nvidia-smi -q` and its Fabric block (None: the GPU has no fabric)."""

    bus_id: str | None  # "00000008:01:00.0" (None for an excerpt without the GPU header)
    name: str | None  # Product Name
    fabric: Fabric | None
    line: int  # where the GPU section (or the Fabric block) starts
    virtualization: str | None = None  # "GPU Virtualization Mode / Virtualization Mode", in model words


@dataclass(frozen=True)
class QueryFabric:
    gpus: tuple[GpuFabric, ...]
    driver_version: str | None = None
    cuda_version: str | None = None
    notes: tuple[str, ...] = ()


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _kv(text: str) -> tuple[str, str] | None:
    s = text.strip()
    key, sep, value = s.partition(" : ")
    if sep:
        return key.strip(), value.strip()
    if s.endswith(" :"):  # a key with an empty value
        return s[:-2].strip(), ""
    return None


def _na(value: str) -> bool:
    return value.strip().lower() in _NA or not value.strip()


def _status(value: str) -> Any:
    v = value.strip()
    if _na(v):
        return Unknown("N/A in nvidia-smi -q")
    if v.lower() == "success":
        return "success"
    cls = STATUS_CLASS.get(v.lower()) or "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", v) if w)
    return f"NVMLError_{cls}"


def _fabric(block: list[tuple[str, str, int]], where: str, notes: list[str]) -> Fabric | None:
    """The fields of one block: (key, value, line) with Health's children keyed `health/<key>`."""
    values: dict[str, Any] = {}
    state_text = next((v for k, v, _ in block if k == "state"), None)
    if state_text is None:
        notes.append(f"{where}: Fabric block without a State line; fabric not read")
        return None
    if _na(state_text):
        return None
    state = STATES.get(state_text.lower())
    if state is None:
        notes.append(f"{where}: fabric state {state_text!r} is not one nvidia-smi is known to print")
        state = re.sub(r"\W+", "_", state_text.lower()).strip("_")
    for key, value, line in block:
        if key == "state":
            continue
        if key == "status":
            values["status"] = (_status(value) if state == "completed"
                                else Unknown("meaningful only when the fabric state is completed"))
        elif key == "cliqueid":
            values["clique_id"] = Unknown("N/A in nvidia-smi -q") if _na(value) else _int(value, where, line)
        elif key == "clusteruuid":
            values["cluster_uuid"] = Unknown("N/A in nvidia-smi -q") if _na(value) else value.lower()
        elif key == "health/summary":
            values["health"] = Unknown("N/A in nvidia-smi -q") if _na(value) else \
                SUMMARY.get(value.lower(), value.lower().replace(" ", "_"))
        elif key == "health/bandwidth":
            values["bandwidth"] = Unknown("N/A in nvidia-smi -q") if _na(value) else value.lower()
        elif key.startswith("health/") and key[7:] in _BOOL_KEYS:
            values[_BOOL_KEYS[key[7:]]] = _bool(value, where, line)
        elif key == "health/incorrect configuration":
            values["incorrect_configuration"] = Unknown("N/A in nvidia-smi -q") if _na(value) else \
                _config(value)
        elif key.startswith("health/"):
            notes.append(f"{where} line {line}: Health key {key[7:]!r} not known; ignored")
    return Fabric(state=state, **values)


def _config(value: str) -> str:
    word = re.sub(r"\W+", "_", value.strip().lower()).strip("_")
    known = set(INCORRECT_CONFIGURATION.values())
    return word if word in known else word or "none"


def _int(value: str, where: str, line: int) -> Any:
    try:
        return int(value.strip(), 0)
    except ValueError:
        raise ParseError(f"CliqueId {value!r} is not a number", source=where, line=line) from None


def _bool(value: str, where: str, line: int) -> Any:
    v = value.strip().lower()
    if _na(v):
        return Unknown("N/A in nvidia-smi -q")
    if v in ("true", "false"):
        return v == "true"
    raise ParseError(f"expected True, False or N/A, got {value!r}", source=where, line=line)


_Section = tuple["str | None", "str | None", int, "list[tuple[str, str, int]] | None", "str | None"]


def _blocks(lines: list[Line], source: str, notes: list[str]) -> list[_Section]:
    """(bus id, product name, line, Fabric block lines or None, virtualization mode) per GPU section."""
    out: list[_Section] = []
    virt: str | None = None
    bus: str | None = None
    name: str | None = None
    start = 0
    block: list[tuple[str, str, int]] | None = None
    fabric_indent = health_indent = -1
    skipped: list[int] = []
    for ln in lines:
        text = ln.text
        if not text.strip():
            continue
        if _NOT_OUTPUT.match(text):
            skipped.append(ln.number)
            continue
        m = _GPU_RE.match(text.strip()) if _indent(text) == 0 else None
        if m:
            if bus is not None or block is not None:
                out.append((bus, name, start, block, virt))
            bus, name, start, block, virt = m.group(1).upper(), None, ln.number, None, None
            fabric_indent = -1
            continue
        ind = _indent(text)
        if text.strip() == "Fabric":
            if block is not None:  # a second Fabric block with no GPU header between: another GPU
                out.append((bus, name, start, block, virt))
                bus, name, virt = None, None, None
            block, fabric_indent, health_indent, start = [], ind, -1, start or ln.number
            continue
        if fabric_indent >= 0 and ind > fabric_indent and block is not None:
            if text.strip() == "Health":
                health_indent = ind
                continue
            kv = _kv(text)
            if kv is None:
                raise ParseError(f"expected `Key : Value` inside the Fabric block, got {text.strip()!r}",
                                 source=source, line=ln.number)
            key = kv[0].lower()
            if health_indent >= 0 and ind > health_indent:
                key = f"health/{key}"
            else:
                health_indent = -1
            block.append((key, kv[1], ln.number))
            continue
        fabric_indent = -1
        kv = _kv(text)
        if kv and kv[0] == "Product Name" and name is None:
            name = kv[1]
        elif kv and kv[0] == "Virtualization Mode" and not _na(kv[1]):
            virt = from_text(kv[1])
    if bus is not None or block is not None:
        out.append((bus, name, start, block, virt))
    if skipped:
        lines_ = ", ".join(str(n) for n in skipped[:5]) + (f" (+{len(skipped) - 5})" if len(skipped) > 5 else "")
        notes.append(f"{source}: skipped {len(skipped)} line(s) that are not nvidia-smi output (elisions, grep "
                     f"separators): line {lines_}")
    return out


def parse_query_fabric(text: str, source: str = "<nvidia-smi -q>") -> QueryFabric:
    """Every GPU section's Fabric block of `nvidia-smi -q` (or an excerpt holding only Fabric blocks)."""
    lines = clean_lines(text)
    notes: list[str] = []
    header: dict[str, str] = {}
    for ln in lines:
        if _GPU_RE.match(ln.text.strip()) and _indent(ln.text) == 0:
            break
        kv = _kv(ln.text) if _indent(ln.text) == 0 else None
        if kv:
            header[kv[0]] = kv[1]
    sections = _blocks(lines, source, notes)
    if not sections:
        raise ParseError("no GPU section and no Fabric block: not `nvidia-smi -q` output", source=source,
                         line=1)
    gpus = []
    for bus, name, start, block, virt in sections:
        where = f"{source} GPU {bus}" if bus else f"{source} line {start}"
        if virt is not None and virt not in MODES.values():
            notes.append(f"{where}: virtualization mode {virt!r} is not one nvidia-smi is known to print")
        if block is None:
            notes.append(f"{where}: no Fabric block (driver older than 450, or an excerpt)")
            gpus.append(GpuFabric(bus, name, None, start, virt))
            continue
        gpus.append(GpuFabric(bus, name, _fabric(block, where, notes), start, virt))
    driver = header.get("Driver Version")
    cuda = header.get("CUDA Version")
    return QueryFabric(tuple(gpus), driver if driver and not _na(driver) else None,
                       cuda if cuda and not _na(cuda) else None, tuple(notes))
