"""The live nvidia-smi probe: run each command through the runner, each with its own timeout.

`topo -m` is required: if it fails the probe fails. Every other command is optional; its failure
becomes a probe note. After one timeout the remaining commands are skipped (a hung driver hangs them
all; waiting N more timeouts helps nobody). A machine without the driver raises `NoDriverError`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tpdoctor.model.errors import ProbeError
from tpdoctor.model.topology import Topology
from tpdoctor.probes import build
from tpdoctor.probes.limits import DEFAULT_TIMEOUT_SECONDS, TIMEOUT_ENV  # noqa: F401  (re-exported)
from tpdoctor.probes.runner import CommandFailed, Runner, env_seconds, run

SMI = "nvidia-smi"
QUERY_FIELDS = ("index,name,uuid,pci.bus_id,memory.total,pcie.link.gen.current,pcie.link.gen.max,"
                "pcie.link.width.current,pcie.link.width.max")

# (collect-directory file name, nvidia-smi arguments); the first is the required one.
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (build.TOPO_M, ("topo", "-m")),
    (build.QUERY_GPU, (f"--query-gpu={QUERY_FIELDS}", "--format=csv")),
    (build.NVLINK_STATUS, ("nvlink", "--status")),
    (build.NVLINK_ERRORS, ("nvlink", "-e")),
    (build.NVLINK_CAPS, ("nvlink", "-c")),
    ("topo-p2p-r.txt", ("topo", "-p2p", "r")),
    ("topo-p2p-w.txt", ("topo", "-p2p", "w")),
    ("topo-p2p-n.txt", ("topo", "-p2p", "n")),
    (build.QUERY_FULL, ("-q",)),  # each GPU's Fabric block (state, clique, cluster UUID, health)
)

_NO_DRIVER_MARKERS = ("couldn't communicate with the nvidia driver", "no devices were found",
                      "driver/library version mismatch")


class NoDriverError(ProbeError):
    """No usable NVIDIA driver here (nvidia-smi missing or it cannot reach the driver)."""


@dataclass(frozen=True)
class Capture:
    """Raw nvidia-smi outputs of one node, keyed by collect-directory file name."""

    host: str
    captured_at: str
    texts: dict[str, str]
    notes: tuple[str, ...]
    duration_seconds: float
    failed: dict[str, str] = field(default_factory=dict)  # file name -> why that command gave no output


def default_timeout() -> float:
    """Per-command timeout: `TPDOCTOR_PROBE_TIMEOUT` seconds if set (tests use a short one), else 10."""
    return env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS)


def no_driver_hint() -> str:
    from tpdoctor.probes.replay import example_path

    return (f"no GPU here? `tpdoctor demo` scans a bundled example node; "
            f"`tpdoctor scan --from {example_path()}` replays it")


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def capture(runner: Runner = run, *, timeout_seconds: float | None = None,
            clock: Callable[[], float] = time.monotonic, now: Callable[[], str] = _utc_now,
            hostname: Callable[[], str] = socket.gethostname) -> Capture:
    """Run every nvidia-smi command; return their outputs and notes for the optional ones that failed."""
    timeout = default_timeout() if timeout_seconds is None else timeout_seconds
    started = clock()
    captured_at = now()
    texts: dict[str, str] = {}
    notes: list[str] = []
    failed: dict[str, str] = {}
    timed_out = False
    for i, (name, args) in enumerate(COMMANDS):
        argv = (SMI, *args)
        if timed_out:
            notes.append(f"skipped `{SMI} {' '.join(args)}`: an earlier command timed out")
            failed[name] = f"`{SMI} {' '.join(args)}` skipped after an earlier command timed out"
            continue
        try:
            texts[name] = runner(argv, timeout_seconds=timeout).stdout
        except CommandFailed as exc:
            if _says_no_driver(exc.stdout + exc.stderr):
                raise NoDriverError(f"no usable NVIDIA driver: `{SMI} {' '.join(args)}` says "
                                    f"{_first(exc.stdout + exc.stderr)!r}", hint=no_driver_hint()) from None
            if i == 0:
                raise
            notes.append(f"optional `{SMI} {' '.join(args)}` failed: {exc.message}")
            failed[name] = f"`{SMI} {' '.join(args)}` failed: {exc.message}"
        except ProbeError as exc:
            if "not found" in exc.message and i == 0:
                raise NoDriverError(f"{SMI} not found: no NVIDIA driver on this machine",
                                    hint=no_driver_hint()) from None
            if i == 0:
                raise
            timed_out = "timed out" in exc.message
            notes.append(f"optional `{SMI} {' '.join(args)}` failed: {exc.message}")
            failed[name] = f"`{SMI} {' '.join(args)}` failed: {exc.message}"
    return Capture(host=hostname(), captured_at=captured_at, texts=texts, notes=tuple(notes),
                   duration_seconds=clock() - started, failed=failed)


def _says_no_driver(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _NO_DRIVER_MARKERS)


def _first(text: str) -> str:
    from tpdoctor.probes.runner import first_line

    line = first_line(text, limit=200)
    return line.split(". ")[0].rstrip(".")  # the first sentence: "NVIDIA-SMI has failed because ..."


def topology_from_capture(cap: Capture, *, source: str = "nvidia-smi") -> Topology:
    """Parse and assemble a capture; a `topo -m` that does not parse is a ParseError."""
    sources = {name: f"`{SMI} {' '.join(args)}` output" for name, args in COMMANDS}
    parts = build.parse_outputs(cap.texts, sources=sources, missing=cap.failed)
    return build.build_topology(parts, host=cap.host, source=source, captured_at=cap.captured_at,
                                notes=cap.notes, probe_duration_seconds=round(cap.duration_seconds, 3))


def probe(runner: Runner = run, *, timeout_seconds: float | None = None) -> Topology:
    """Read this machine through nvidia-smi."""
    return topology_from_capture(capture(runner, timeout_seconds=timeout_seconds))
