"""`tpdoctor collect DIR`: capture this node's raw nvidia-smi outputs (and a snapshot) for offline replay.

`snapshot.json` is the NVML view merged with nvidia-smi's (NVML first) when NVML can be read, else the
nvidia-smi view alone (with a note saying why).

Everything is written into a temporary sibling directory first and renamed to DIR at the end, so an
interrupted or failed collect never leaves a half-written DIR behind. DIR is 0700 and its files 0600,
whatever the umask: a capture holds this node's details (host name, GPU serial numbers and UUIDs, driver,
PCI layout, NIC names), and handing it on (a bug report, a fleet share) is the owner's decision
(`chmod -R go+rX DIR`), not a default every local user gets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tpdoctor.files.atomic import require_directory
from tpdoctor.model.errors import OutputError, ParseError, ProbeError
from tpdoctor.probes import build
from tpdoctor.probes.runner import Runner, run
from tpdoctor.probes.smi_probe import Capture, capture, topology_from_capture

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class CollectResult:
    directory: Path
    files: tuple[str, ...]
    notes: tuple[str, ...]
    parse_error: str | None  # set when the outputs were saved but do not parse (no snapshot.json then)


def collect(directory: str | Path, runner: Runner = run, *,
            timeout_seconds: float | None = None, nvml_lib: ModuleType | None = None,
            use_nvml: bool = True) -> CollectResult:
    """Capture into `directory` (which must not exist yet, or be empty)."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ProbeError(f"{target} already exists and is not an empty directory",
                         hint="choose a new directory name")
    require_directory(target.absolute(), "capture")  # DIR itself is created; the directory above it is not
    cap = capture(runner, timeout_seconds=timeout_seconds)
    files = {name: text for name, text in cap.texts.items()}
    files[build.HOST] = f"{cap.host}\ncaptured_at: {cap.captured_at}\n"  # the capture's own time, for replay
    parse_error = None
    notes = list(cap.notes)
    try:
        snapshot, imex_texts = _snapshot_json(cap, notes, nvml_lib if use_nvml else None, use_nvml,
                                              timeout_seconds, runner)
    except ParseError as exc:
        parse_error = exc.message
    else:
        files[build.SNAPSHOT] = snapshot
        files.update(imex_texts)
    _write_atomically(target, files)
    return CollectResult(target, tuple(sorted(files)), tuple(notes), parse_error)


def _snapshot_json(cap: Capture, notes: list[str], nvml_lib: ModuleType | None, use_nvml: bool,
                   timeout_seconds: float | None, runner: Runner) -> tuple[str, dict[str, str]]:
    """snapshot.json, and the IMEX outputs where the node is in a multi-node NVLink domain."""
    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report
    from tpdoctor.probes import imex, running
    from tpdoctor.probes.smi_probe import default_timeout

    smi_view = topology_from_capture(cap)
    topology = smi_view
    deadline = default_timeout() if timeout_seconds is None else timeout_seconds
    discover = running.enabled()
    if use_nvml:
        from tpdoctor.probes.merge import merge
        from tpdoctor.probes.nvml import deadline_seconds, probe_nvml

        nvml_deadline = deadline_seconds(timeout_seconds)
        try:
            topology = merge(probe_nvml(nvml_lib, deadline_seconds=nvml_deadline, host=cap.host,
                                        processes=discover), smi_view)
        except ProbeError as exc:
            notes.append(f"snapshot.json from nvidia-smi only: NVML unavailable ({exc.message})")
    topology, imex_texts = imex.attach(topology, runner, timeout_seconds=deadline)
    if discover:  # the compute-process table and its processes' command lines, redacted (docs/running.md)
        from tpdoctor.model.coverage import with_coverage

        topology = with_coverage(running.attach(topology, runner, timeout_seconds=deadline))
        imex_texts[build.RUNNING_FILE] = running.to_json(topology)
    return render(Report(topology=topology)), imex_texts


def _write_atomically(target: Path, files: dict[str, str]) -> None:
    parent = target.resolve().parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the capture: {exc.strerror or exc}") from None
    try:
        for name, text in files.items():
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:
                fh.write(text)
        os.chmod(tmp, DIRECTORY_MODE)
        if target.exists():  # an empty directory: replace it
            target.rmdir()
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{target}: cannot write the capture: {exc.strerror or exc}") from None
        raise
