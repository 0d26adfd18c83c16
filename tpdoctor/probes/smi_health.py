"""`nvidia-smi -q` text -> each GPU's health (model/health.py) and MIG mode.

The GPU sections of `-q` are a tree of `Key : Value` lines whose depth is their indentation; a key may carry a
value and children at once (`HW Slowdown : Active` over `HW Power Brake Slowdown : Active`). This module reads
the tree of each section (by bus id) and maps the spellings of every driver generation seen in the field onto
`GpuHealth` (samples: fixtures/field/gpud/*/query.txt, driver 535; fixtures/collect/h100-sxm-vm-passthrough,
580; older ones quoted in docs/health.md):

- remapped rows: Remapped Rows / Pending, Remapping Failure Occurred, Uncorrectable Error
  (`Remapped Rows : N/A` before Ampere);
- retired pages: Retired Pages / Pending Page Blacklist (to 535), Pending Page Retirement, Pending;
- volatile ECC: ECC Errors / Volatile / DRAM Uncorrectable, SRAM Uncorrectable (Parity, SEC-DED on Hopper);
  older drivers: Volatile / Double Bit / Total;
- reset: GPU Reset Status / Reset Required, Drain and Reset Recommended (before 570); GPU Recovery Action (570+);
- clocks: Clocks Event Reasons (535+) or Clocks Throttle Reasons / HW Slowdown, HW Thermal Slowdown,
  HW Power Brake Slowdown, SW Thermal Slowdown;
- MIG: MIG Mode / Current, Pending.

`N/A` (and `[N/A]`, `Not Supported`) is the definite "not on this GPU" (`NOT_SUPPORTED`); a key that is absent
stays not read. A value nvidia-smi is not known to print is a note and not read, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tpdoctor.model.health import NOT_SUPPORTED, GpuHealth
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes.smi_notices import normalize_bus_id
from tpdoctor.probes.smi_text import clean_lines

_GPU_RE = re.compile(r"^GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_NA = {"n/a", "[n/a]", "not supported", "[not supported]", "requested functionality has been deprecated"}
_YES = {"yes": True, "no": False, "active": True, "not active": False, "enabled": True, "disabled": False}
_CLOCKS = ("Clocks Event Reasons", "Clocks Throttle Reasons")
_UNCORRECTABLE = ("DRAM Uncorrectable", "SRAM Uncorrectable", "SRAM Uncorrectable Parity",
                  "SRAM Uncorrectable SEC-DED")
_RECOVERY = {"none": "none", "reset": "gpu_reset", "gpu reset": "gpu_reset", "reboot": "node_reboot",
             "node reboot": "node_reboot", "drain p2p": "drain_p2p", "drain and reset": "drain_and_reset",
             "bus reset": "bus_reset", "system reboot": "system_reboot",
             "recover imex domain": "recover_imex_domain"}

Tree = dict[tuple[str, ...], str]


@dataclass(frozen=True)
class GpuQuery:
    """One GPU section of `-q`: identity, MIG mode and health."""

    bus_id: str  # "00000000:19:00.0"; "" for an excerpt without its GPU line
    name: str | None
    uuid: str | None
    mig: Maybe[bool]
    health: GpuHealth


@dataclass(frozen=True)
class QueryHealth:
    gpus: tuple[GpuQuery, ...]
    notes: tuple[str, ...] = ()

    def by_bus(self) -> dict[str, GpuQuery]:
        return {g.bus_id: g for g in self.gpus if g.bus_id}


def _trees(text: str) -> list[tuple[str, Tree]]:
    """(bus id, key path -> value) per GPU section."""
    out: list[tuple[str, Tree]] = []
    tree: Tree | None = None
    stack: list[tuple[int, str]] = []
    for ln in clean_lines(text):
        raw = ln.text
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" \t"))
        m = _GPU_RE.match(raw.strip()) if indent == 0 else None
        if m:
            tree, stack = {}, []
            out.append((normalize_bus_id(m.group(1)), tree))
            continue
        if tree is None:
            if indent == 0:
                continue  # the header (Driver Version, Attached GPUs ...)
            tree, stack = {}, []  # an excerpt without its `GPU <bus id>` line: one GPU, matched by order
            out.append(("", tree))
        key, sep, value = raw.strip().partition(" : ")
        if not sep and raw.strip().endswith(" :"):
            key, sep = raw.strip()[:-2], " : "
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(k for _, k in stack), key.strip())
        if sep:
            tree[path] = value.strip()
        stack.append((indent, key.strip()))
    return out


def _flag(tree: Tree, *paths: tuple[str, ...], notes: list[str], where: str) -> Maybe[bool]:
    for path in paths:
        if path in tree:
            value = tree[path].strip().lower()
            if value in _NA:
                return Unknown(NOT_SUPPORTED)
            if value in _YES:
                return _YES[value]
            notes.append(f"{where}: {' / '.join(path)} reads {tree[path]!r}, not a value nvidia-smi is known to print")
            return Unknown(f"{' / '.join(path)} reads {tree[path]!r}")
    return Unknown(f"not in `nvidia-smi -q` ({' / '.join(paths[0])})")


def _count(tree: Tree, path: tuple[str, ...]) -> Maybe[int] | None:
    if path not in tree:
        return None
    value = tree[path].strip()
    if value.lower() in _NA:
        return Unknown(NOT_SUPPORTED)
    return int(value) if value.isdigit() else Unknown(f"{' / '.join(path)} reads {value!r}")


def _section(tree: Tree, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if any(p[0] == n for p in tree)), None)


def _deep(tree: Tree, top: str, key: str) -> tuple[str, ...] | None:
    """The path of `key` anywhere under the section `top`."""
    return next((p for p in tree if p[0] == top and p[-1] == key), None)


def _ecc(tree: Tree) -> Maybe[int]:
    counts = [_count(tree, ("ECC Errors", "Volatile", key)) for key in _UNCORRECTABLE]
    counts.append(_count(tree, ("ECC Errors", "Volatile", "Double Bit", "Total")))
    known = [c for c in counts if c is not None]
    if not known:
        return Unknown("not in `nvidia-smi -q` (ECC Errors / Volatile)")
    numbers = [c for c in known if isinstance(c, int)]
    if numbers:
        return sum(numbers)
    return known[0]  # every one N/A (ECC off or not on this GPU), or unreadable


def _memory(tree: Tree, notes: list[str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tree.get(("Remapped Rows",), "").strip().lower() in _NA and ("Remapped Rows",) in tree:
        out.update(remap_pending=Unknown(NOT_SUPPORTED), remap_failed=Unknown(NOT_SUPPORTED),
                   remap_uncorrectable=Unknown(NOT_SUPPORTED))
    else:
        out["remap_pending"] = _flag(tree, ("Remapped Rows", "Pending"), notes=notes, where=where)
        out["remap_failed"] = _flag(tree, ("Remapped Rows", "Remapping Failure Occurred"), notes=notes, where=where)
        unc = _count(tree, ("Remapped Rows", "Uncorrectable Error"))
        out["remap_uncorrectable"] = unc if unc is not None else Unknown("not in `nvidia-smi -q`")
    out["retired_pending"] = _flag(tree, ("Retired Pages", "Pending Page Blacklist"),
                                   ("Retired Pages", "Pending Page Retirement"), ("Retired Pages", "Pending"),
                                   notes=notes, where=where)
    return out


def _reset(tree: Tree, notes: list[str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reset_required": _flag(tree, ("GPU Reset Status", "Reset Required"), notes=notes, where=where),
        "drain_recommended": _flag(tree, ("GPU Reset Status", "Drain and Reset Recommended"), notes=notes,
                                   where=where),
        "recovery_action": Unknown("not in `nvidia-smi -q` (GPU Recovery Action, driver 570+)"),
    }
    raw = tree.get(("GPU Recovery Action",))
    if raw is not None:
        word = raw.strip().lower()
        action = Unknown(NOT_SUPPORTED) if word in _NA else _RECOVERY.get(word)
        if action is None:
            notes.append(f"{where}: GPU Recovery Action {raw!r} is not one nvidia-smi is known to print")
            action = Unknown(f"GPU Recovery Action reads {raw!r}")
        out["recovery_action"] = action
        if isinstance(action, str):  # 570+: the action replaces the deprecated reset status
            from tpdoctor.model.health import DRAIN_ACTIONS, RESET_ACTIONS

            if isinstance(out["reset_required"], Unknown):
                out["reset_required"] = action in RESET_ACTIONS
            if isinstance(out["drain_recommended"], Unknown):
                out["drain_recommended"] = action in DRAIN_ACTIONS
    return out


def _clocks(tree: Tree, notes: list[str], where: str) -> dict[str, Any]:
    top = _section(tree, _CLOCKS)
    keys = {"clocks_hw_slowdown": "HW Slowdown", "clocks_hw_thermal": "HW Thermal Slowdown",
            "clocks_hw_power_brake": "HW Power Brake Slowdown", "clocks_sw_thermal": "SW Thermal Slowdown"}
    if top is None:
        return {f: Unknown("not in `nvidia-smi -q` (Clocks Event Reasons)") for f in keys}
    out: dict[str, Any] = {}
    for field_name, key in keys.items():
        path = _deep(tree, top, key)
        out[field_name] = _flag(tree, path, notes=notes, where=where) if path else Unknown(f"not in {top}")
    return out


def _gpu(bus: str, tree: Tree, source: str, notes: list[str]) -> GpuQuery:
    where = f"{source} GPU {bus}"
    mig = _flag(tree, ("MIG Mode", "Current"), notes=notes, where=where)
    pending = _flag(tree, ("MIG Mode", "Pending"), notes=notes, where=where)
    health = GpuHealth(source="nvidia-smi -q", ecc_volatile_uncorrectable=_ecc(tree), mig_pending=pending,
                       **_memory(tree, notes, where), **_reset(tree, notes, where), **_clocks(tree, notes, where))
    if isinstance(mig, Unknown) and mig.reason == NOT_SUPPORTED:
        mig = False  # a GPU without MIG certainly runs without it
    return GpuQuery(bus, tree.get(("Product Name",)), tree.get(("GPU UUID",)), mig, health)


def parse_query_health(text: str, source: str = "<nvidia-smi -q>") -> QueryHealth:
    """Every GPU section's health and MIG mode (an output without GPU sections gives none)."""
    notes: list[str] = []
    gpus = tuple(_gpu(bus, tree, source, notes) for bus, tree in _trees(text))
    return QueryHealth(gpus, tuple(notes))
