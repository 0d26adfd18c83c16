"""Replay a capture offline: a raw `nvidia-smi topo -m` file, a collect directory, or a report JSON.

Which one is detected from the path and the content. A file that cannot be input (missing, a FIFO, a
device, too large) is an InputError from the bounded reader, one that does not parse a ParseError; both
name the file.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from tpdoctor.files.read import read_bytes
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Report
from tpdoctor.model.topology import Topology
from tpdoctor.probes import build
from tpdoctor.probes.imex import FILES as IMEX_FILES
from tpdoctor.probes.imex import imex_from_texts

EXAMPLE_NAME = "h100nvl-gpu01-nvlink-down"
MAX_BYTES = 64 * 1024 * 1024  # a capture is kilobytes; refuse to slurp something absurd


# The time of a replayed capture is the capture's own (snapshot.json, or `captured_at:` in host.txt, which
# `tpdoctor collect` writes), never the file's mtime: a copy, an unpacked archive or an installed package
# gives files new mtimes, and a fleet would take an old capture for a fresh one.
UNKNOWN_TIME = "unknown"
NO_TIME_RAW = ("captured_at unknown: a raw `nvidia-smi topo -m` capture records no time (a `tpdoctor collect` "
               "directory does)")
NO_TIME_DIR = "captured_at unknown: this capture records no time (no snapshot.json, no captured_at in host.txt)"


def example_path(name: str = EXAMPLE_NAME) -> Path:
    """The bundled example node (a collect directory shipped inside the package)."""
    return Path(__file__).resolve().parent.parent / "examples" / name


def load(path: str | Path) -> Topology:
    """The Topology in `path` (raw topo -m text, collect directory, or tpdoctor/v1 JSON)."""
    return load_report(path).topology


def load_report(path: str | Path) -> Report:
    """Like `load`, but keeps a JSON report's findings, bench results and status."""
    p = Path(path)
    if p.is_dir():
        return Report(topology=_load_dir(p))
    text = _read(p)
    if text.lstrip().startswith("{"):
        return _load_json(text, str(p))
    topology = _load_raw({build.TOPO_M: text}, str(p), host=_host_from_name(p), captured_at=UNKNOWN_TIME)
    return Report(topology=replace(topology, probe_notes=(*topology.probe_notes, NO_TIME_RAW)))


def _read(p: Path) -> str:
    """The file's text through the bounded reader (a FIFO or a device is refused, never opened for a
    blocking read); nvidia-smi output may carry stray bytes, so they are replaced, not refused."""
    data = read_bytes(p, max_bytes=MAX_BYTES)
    if b"\x00" in data[:4096]:
        raise ParseError("binary file, not nvidia-smi output or JSON", source=str(p))
    return data.decode("utf-8", errors="replace")


def _load_json(text: str, source: str) -> Report:
    from tpdoctor.model.contract import loads

    return loads(text, source=source)


def _load_dir(d: Path) -> Topology:
    files = {name: d / name for name in _COLLECT_FILES}
    present = {name: f for name, f in files.items() if os.path.lexists(f)}  # a FIFO is refused when read
    snapshot = present.pop(build.SNAPSHOT, None)
    if build.TOPO_M not in present:
        if snapshot is not None:
            return _load_json(_read(snapshot), str(snapshot)).topology
        raise ParseError(f"not a collect directory: neither {build.TOPO_M} nor {build.SNAPSHOT} found",
                         source=str(d))
    host_file = present.pop(build.HOST, None)
    host_lines = _read(host_file).strip().splitlines() if host_file is not None else []
    host = host_lines[0].strip() if host_lines else ""
    recorded = [line.split(":", 1)[1].strip() for line in host_lines[1:] if line.startswith("captured_at:")]
    captured_at = (_captured_at(snapshot) if snapshot is not None else None) or (recorded[0] if recorded else None)
    running = present.pop(build.RUNNING_FILE, None)
    texts = {name: _read(f) for name, f in present.items()}
    topology = _load_raw(texts, str(d), host=host or d.name, captured_at=captured_at or UNKNOWN_TIME)
    if captured_at is None:
        topology = replace(topology, probe_notes=(*topology.probe_notes, NO_TIME_DIR))
    if running is not None:
        topology = _with_running(topology, running)
    found, notes = imex_from_texts(texts, str(d))
    if found is None:
        return topology
    return replace(topology, imex=found, probe_notes=(*topology.probe_notes, *notes))


def _with_running(topology: Topology, path: Path) -> Topology:
    """The processes a collect found running on the node (`running.json`), checked against its GPUs."""
    from tpdoctor.model.contract import validate
    from tpdoctor.model.coverage import with_coverage
    from tpdoctor.probes.running import from_json

    found = with_coverage(replace(topology, running=from_json(_read(path), str(path))))
    validate(Report(topology=found), str(path), links_checked=True)
    return found


_COLLECT_FILES = (build.TOPO_M, *build.P2P_FILES, build.NVLINK_STATUS, build.NVLINK_ERRORS, build.MIG_QUERY,
                  build.NVLINK_CAPS, build.QUERY_GPU, build.QUERY_FULL, *IMEX_FILES, build.HOST, build.SNAPSHOT,
                  build.RUNNING_FILE)


def _captured_at(snapshot: Path) -> str | None:
    from tpdoctor.model.contract import parse_json

    try:
        data = parse_json(_read(snapshot), str(snapshot))
    except ParseError:
        return None
    value = data.get("captured_at") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _load_raw(texts: dict[str, str], where: str, *, host: str, captured_at: str) -> Topology:
    parts = build.parse_outputs(texts, where=where) if Path(where).is_dir() else _parse_single(texts, where)
    return build.build_topology(parts, host=host, source="snapshot", captured_at=captured_at,
                                notes=(f"replayed from {where}",))


def _parse_single(texts: dict[str, str], where: str) -> build.SmiParts:
    from tpdoctor.probes import smi

    topo = smi.parse_topo_m(texts[build.TOPO_M], source=where)
    why = "not in a raw `topo -m` capture (`tpdoctor collect DIR` saves every output)"
    missing = {name: f"{name} {why}" for name in _COLLECT_FILES if name not in (build.TOPO_M, build.RUNNING_FILE)}
    return build.SmiParts(topo=topo, notes=topo.notes, missing=missing)


def _host_from_name(p: Path) -> str:
    return "stdin" if str(p) == "-" else p.stem  # a raw topo -m names no host: the file's name stands in


