"""The live nvidia-smi probe: run each command through the runner, each with its own timeout.

Every command's output is evidence, whatever its exit status: nvidia-smi exits 14 after a complete output
when an infoROM is corrupted, and non-zero after listing the GPUs it could read when one has fallen off the
bus; what it printed is kept and parsed (its lines about GPUs and the driver are read by `smi_notices`), and
the exit status is a note quoting the line that says what failed. `topo -m` is required: if it prints
nothing usable the probe fails. Every other command is optional; its failure becomes a probe note. After one
timeout the remaining commands are skipped (a hung driver hangs them all; waiting N more timeouts helps
nobody). A machine without a usable driver raises `NoDriverError` (`NoDevicesError` when the driver answers
but lists no GPU), whose hint says what to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tpdoctor.model.errors import ProbeError
from tpdoctor.model.safetext import kernel_host
from tpdoctor.model.settings import PROBE_TIMEOUT
from tpdoctor.model.topology import Topology
from tpdoctor.probes import build
from tpdoctor.probes.limits import DEFAULT_TIMEOUT_SECONDS, TIMEOUT_ENV  # noqa: F401  (re-exported)
from tpdoctor.probes.runner import CommandFailed, Runner, env_seconds, run
from tpdoctor.probes.smi_notices import failure_line, notice_of, split_notices

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
    (build.QUERY_FULL, ("-q",)),  # each GPU's Fabric block, health (remapped rows, ECC, reset, clocks), MIG
    # MIG mode in a query of its own: a driver that does not know a field rejects the whole query
    (build.MIG_QUERY, ("--query-gpu=index,uuid,mig.mode.current,mig.mode.pending", "--format=csv")),
)



class NoDriverError(ProbeError):
    """No usable NVIDIA driver here (nvidia-smi missing or it cannot reach the driver)."""

    def __init__(self, message: str, *, hint: str | None = None, said: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.said = said  # what nvidia-smi printed instead of GPUs; None when nvidia-smi itself is missing


class NoDevicesError(NoDriverError):
    """The driver answers but lists no GPU ("No devices were found")."""


_DRIVER_HINTS = (
    ("no devices were found", "the driver lists no GPU: `lspci -d 10de:` shows whether the GPUs are still on the "
                              "PCI bus, `dmesg | grep -i -e xid -e NVRM` why the driver dropped them (Xid 79: fallen "
                              "off the bus); after a driver upgrade without a reboot, reboot"),
    ("version mismatch", "the driver was upgraded without a reboot: reboot, or reload the nvidia kernel modules"),
    ("couldn't communicate", "the nvidia kernel module is not loaded or not answering: `lsmod | grep nvidia`, "
                             "`dmesg | grep -i NVRM`; reinstall the driver or reboot"),
    ("failed to initialize nvml: unknown error", "in a container this follows a host `systemctl daemon-reload` "
                                                 "dropping the device cgroup rules (recreate the container); on "
                                                 "the host, `dmesg | grep -i -e xid -e NVRM`"),
)


@dataclass(frozen=True)
class Capture:
    """Raw nvidia-smi outputs of one node, keyed by collect-directory file name."""

    host: str
    captured_at: str
    texts: dict[str, str]
    notes: tuple[str, ...]
    duration_seconds: float
    failed: dict[str, str] = field(default_factory=dict)  # file name -> why that command gave no output
    status: dict[str, int] = field(default_factory=dict)  # file name -> non-zero exit status of an output kept


def default_timeout() -> float:
    """Per-command timeout: `TPDOCTOR_PROBE_TIMEOUT` seconds if set (tests use a short one), else 10."""
    return env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS, PROBE_TIMEOUT)


def no_driver_hint(said: str | None = None) -> str:
    """What to check: for a driver that answered with a message, the message's fix; only for a machine without
    nvidia-smi at all, the bundled example."""
    from tpdoctor.probes.replay import example_path

    demo = (f"no GPU here? `tpdoctor demo` scans a bundled example node; "
            f"`tpdoctor scan --from {example_path()}` replays it")
    low = (said or "").lower()
    for marker, hint in _DRIVER_HINTS:
        if marker in low:
            return f"{hint}; {demo}" if marker == "couldn't communicate" else hint
    if said:
        return "check the driver: `nvidia-smi` by hand, `dmesg | grep -i -e xid -e NVRM`, `lspci -d 10de:`"
    return demo


def utc_now() -> str:
    """Now, UTC, to the second: `2025-01-02T03:04:05Z` (a report's captured_at)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def capture(runner: Runner = run, *, timeout_seconds: float | None = None,
            clock: Callable[[], float] = time.monotonic, now: Callable[[], str] = utc_now,
            hostname: Callable[[], str] = kernel_host) -> Capture:
    """Run every nvidia-smi command; return their outputs and notes for the optional ones that failed."""
    timeout = default_timeout() if timeout_seconds is None else timeout_seconds
    started = clock()
    captured_at = now()
    texts: dict[str, str] = {}
    notes: list[str] = []
    failed: dict[str, str] = {}
    status: dict[str, int] = {}
    timed_out = False
    for i, (name, args) in enumerate(COMMANDS):
        argv = (SMI, *args)
        what = f"`{SMI} {' '.join(args)}`"
        if timed_out:
            notes.append(f"skipped {what}: an earlier command timed out")
            failed[name] = f"{what} skipped after an earlier command timed out"
            continue
        try:
            result = runner(argv, timeout_seconds=timeout)
            texts[name] = result.stdout + _notice_lines(result.stderr)
        except CommandFailed as exc:
            said = _evidence(exc, what, first=not texts)
            if said is None:
                if i == 0:
                    raise
                notes.append(f"optional {what} failed: {exc.message}")
                failed[name] = f"{what} failed: {exc.message}"
                continue
            texts[name] = said
            status[name] = exc.returncode
            notes.append(f"{what} exited with status {exc.returncode} after printing its output: "
                         f"{failure_line(exc.stdout + chr(10) + exc.stderr)}")
        except ProbeError as exc:
            if "not found" in exc.message and i == 0:
                raise NoDriverError(f"{SMI} not found: no NVIDIA driver on this machine",
                                    hint=no_driver_hint()) from None
            if i == 0:
                raise
            timed_out = "timed out" in exc.message
            notes.append(f"optional {what} failed: {exc.message}")
            failed[name] = f"{what} failed: {exc.message}"
    return Capture(host=hostname(), captured_at=captured_at, texts=texts, notes=tuple(notes),
                   duration_seconds=clock() - started, failed=failed, status=status)


def _notice_lines(stderr: str) -> str:
    """The lines of stderr nvidia-smi meant as notices (a GPU it cannot read, a corrupted infoROM)."""
    lines = [ln for ln in stderr.splitlines() if notice_of(ln) is not None]
    return "".join(f"{ln}\n" for ln in lines)


def _evidence(exc: CommandFailed, what: str, *, first: bool) -> str | None:
    """What a command that exited non-zero printed, to be parsed like any output; None when it printed nothing
    useful. A driver that cannot be reached, or lists no GPU, before any command has read a GPU, raises
    NoDriverError / NoDevicesError naming it (later, it is one optional command's failure)."""
    combined = exc.stdout + "\n" + exc.stderr
    rest, notices = split_notices(combined)
    driver = [n for n in notices if n.kind in ("no_driver", "no_devices")]
    if driver and not rest.strip() and not any(n.kind == "device_handle" for n in notices):
        if not first:
            return None
        said = driver[0].line
        cls = NoDevicesError if driver[0].kind == "no_devices" else NoDriverError
        raise cls(f"no usable NVIDIA driver: {what} says {_first(said)!r}", hint=no_driver_hint(said),
                  said=said) from None
    if not exc.stdout.strip() and not notices:
        return None  # only an error on stderr: the command failed, it printed no output to read
    return exc.stdout + _notice_lines(exc.stderr)


def _first(text: str) -> str:
    line = failure_line(text, limit=200)
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
