"""Probes read the machine (NVML, nvidia-smi) or a capture of it, and return a Topology.

`probe_live` is the one place the live probe is chosen; `replay.load` reads captures.
"""

from __future__ import annotations

from tpdoctor.errors import ProbeError
from tpdoctor.probes.runner import Runner, run
from tpdoctor.topology import Topology

PROBE_KINDS = ("auto", "nvml", "smi")


def probe_live(kind: str = "auto", *, runner: Runner = run, timeout_seconds: float | None = None) -> Topology:
    """Read this machine with the probe `kind`: `smi` (nvidia-smi), `nvml`, or `auto` (the best available).

    For now `auto` means nvidia-smi; the NVML probe plugs in here.
    """
    if kind not in PROBE_KINDS:
        raise ProbeError(f"unknown probe {kind!r}", hint=f"choose one of {', '.join(PROBE_KINDS)}")
    if kind == "nvml":
        raise ProbeError("the NVML probe is not available in this build", hint="use --probe smi")
    from tpdoctor.probes import smi_probe

    return smi_probe.probe(runner, timeout_seconds=timeout_seconds)
