"""Process discovery: which processes hold the node's GPUs, and what /proc says about each (docs/running.md).

The table comes from NVML (read in the same session as the topology, `probes/nvml_procs.py`), else from
`nvidia-smi --query-compute-apps` through the runner (with its timeout). Each PID in it is then read from
/proc with its ancestors (`probes/procfs.py`); a PID /proc does not show is `hidden` with why. The result,
`model.running.Running`, is part of the snapshot, so a capture replays it offline (`collect` writes
`running.json`). Nothing here groups or judges: `running/` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from tpdoctor.model.errors import ParseError, ProbeError
from tpdoctor.model.running import PID_MAX, ComputeProcess, Hidden, Process, Running
from tpdoctor.model.topology import Topology
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes import cgroups, procfs
from tpdoctor.probes.runner import Runner, run

SMI_ARGS = ("--query-compute-apps=pid,gpu_uuid,used_memory", "--format=csv,noheader")
APPS_FILE = "query-compute-apps.csv"  # the same command's output in a collect directory
DISCOVERY_ENV = "TPDOCTOR_RUNNING"  # "0" turns discovery off (live reads then carry no running section)


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(DISCOVERY_ENV, "1").strip() not in ("0", "off", "no", "false")


def _mib(text: str) -> Maybe[int]:
    t = text.strip()
    if t.endswith("MiB") and t[:-3].strip().isdigit():
        return int(t[:-3].strip())
    return Unknown(f"nvidia-smi used_memory {t[:40]!r}")


def parse_compute_apps(text: str, topology: Topology, source: str = "nvidia-smi --query-compute-apps"
                       ) -> tuple[tuple[ComputeProcess, ...], tuple[str, ...]]:
    """Rows of `pid, gpu_uuid, used_memory` (csv, noheader) with the GPU's NVML index found by UUID; rows
    naming a GPU the topology does not have become notes. Anything else is a ParseError."""
    by_uuid = {str(g.uuid).lower(): g.index for g in topology.gpus if not isinstance(g.uuid, Unknown)}
    rows: list[ComputeProcess] = []
    notes: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lower().startswith("pid") or "no running processes" in line.lower():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0].isdigit() or not 0 < int(parts[0]) <= PID_MAX:
            raise ParseError(f"not a `pid, gpu_uuid, used_memory` row: {line[:80]!r}", source=source, line=n)
        index = by_uuid.get(parts[1].lower())
        if index is None:
            notes.append(f"PID {parts[0]} holds {parts[1][:48]}, a GPU this topology does not list")
            continue
        rows.append(ComputeProcess(pid=int(parts[0]), gpu=index, used_memory_mib=_mib(parts[2])))
    return tuple(rows), tuple(notes)


def smi_table(topology: Topology, runner: Runner, timeout_seconds: float) -> Running:
    """The table from nvidia-smi, or a Running whose table is unread with why."""
    argv = ("nvidia-smi", *SMI_ARGS)
    try:
        out = runner(argv, timeout_seconds=timeout_seconds).stdout
        rows, notes = parse_compute_apps(out, topology)
    except (ProbeError, ParseError) as exc:
        return Running(source="nvidia-smi", table_unread=f"`nvidia-smi {' '.join(SMI_ARGS)}` failed: {exc.message}")
    return Running(source="nvidia-smi", table=rows, notes=notes)


def _hidden_reason(namespace: str, denied: str | None) -> str:
    if denied:
        return f"/proc/PID/stat {denied}: tpdoctor is not root, or /proc is mounted with hidepid"
    if namespace != "host":
        return "not in this /proc: tpdoctor runs in another PID namespace (a container without hostPID)"
    return ("not in /proc: it exited after the driver listed it, or /proc is mounted with hidepid and "
            "tpdoctor lacks CAP_SYS_PTRACE")


def look_up(running: Running, root: Path, kubelet: Path) -> Running:
    """Read every holder of the table, and its ancestors, from /proc under `root`."""
    if running.table_unread is not None:
        return running
    namespace = procfs.pid_namespace(root)
    reader = procfs.Reader(root, kubelet)
    seen: dict[int, Process] = {}
    hidden: list[Hidden] = []
    for pid, gpus in running.holders().items():
        try:
            reader.with_ancestors(pid, seen)
        except procfs.Gone:
            hidden.append(Hidden(pid, gpus, _hidden_reason(namespace, None)))
        except procfs.Denied as exc:
            hidden.append(Hidden(pid, gpus, _hidden_reason(namespace, str(exc))))
    return replace(running, processes=tuple(seen[p] for p in sorted(seen)), hidden=tuple(hidden),
                   pid_namespace=namespace)


def attach(topology: Topology, runner: Runner = run, *, timeout_seconds: float,
           root: Path | None = None, kubelet: Path | None = None) -> Topology:
    """The topology with `running` filled: the table NVML read (or nvidia-smi's), then /proc."""
    table = topology.running
    if table is None or table.table_unread is not None:
        hung = next((n for n in topology.probe_notes if "timed out" in n), None)
        fallback = smi_table(topology, runner, timeout_seconds) if hung is None else Running(
            source="nvidia-smi", table_unread=f"`nvidia-smi {' '.join(SMI_ARGS)}` not run: {hung}")
        if table is not None and fallback.table_unread is not None:
            fallback = replace(fallback, table_unread=f"{table.table_unread}; {fallback.table_unread}")
        elif table is not None:
            fallback = replace(fallback, notes=(*fallback.notes, f"NVML: {table.table_unread}; read by nvidia-smi"))
        table = fallback
    found = look_up(table, root or procfs.proc_root(), kubelet or cgroups.kubelet_root())
    return replace(topology, running=found)


def to_json(topology: Topology) -> str:
    """`running.json` of a collect directory: the table and processes as `tpdoctor/v1` writes them, every
    text redacted once more on the way out (`model/redact.py`)."""
    import json

    from tpdoctor import SCHEMA
    from tpdoctor.model.codec import to_data
    from tpdoctor.model.redact import redact_args, redact_env

    running = topology.running
    assert running is not None
    clean = replace(running, processes=tuple(replace(p, cmdline=redact_args(p.cmdline), env=redact_env(p.env))
                                             for p in running.processes))
    return json.dumps({"schema": SCHEMA, "host": topology.host, "running": to_data(clean)}, indent=2) + "\n"


def from_json(text: str, source: str) -> Running:
    """A collect directory's `running.json` (ParseError naming the file when it is not one)."""
    from tpdoctor import SCHEMA
    from tpdoctor.model.codec import from_data
    from tpdoctor.model.contract import parse_json

    data = parse_json(text, source)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("running"), dict):
        raise ParseError(f"not a tpdoctor running.json (schema {SCHEMA}, a `running` object)", source=source)
    try:
        found: Running = from_data(Running, data["running"], "$.running")
    except (TypeError, ValueError) as exc:
        raise ParseError(str(exc), source=source) from None
    return found
