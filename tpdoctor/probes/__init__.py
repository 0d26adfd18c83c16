"""Probes read the machine (NVML, nvidia-smi) or a capture of it, and return a Topology.

`probe_live` is the one place the live probe is chosen; `replay.load` reads captures.
"""

from __future__ import annotations

from types import ModuleType

from tpdoctor.model.errors import ProbeError
from tpdoctor.model.topology import Topology
from tpdoctor.probes.runner import Runner, run

PROBE_KINDS = ("auto", "nvml", "smi")


def probe_live(kind: str = "auto", *, runner: Runner = run, timeout_seconds: float | None = None,
               nvml_lib: ModuleType | None = None) -> Topology:
    """Read this machine with the probe `kind`: `nvml`, `smi` (nvidia-smi), or `auto`.

    `auto` reads NVML first and merges nvidia-smi in (NICs, fields NVML refused, disagreements noted);
    when NVML cannot start (no library, no driver access) it falls back to nvidia-smi alone, and when
    nvidia-smi fails the NVML view stands alone. An NVML read that overruns its deadline is a wedged
    driver: that fails the probe (nvidia-smi would hang the same way). `timeout_seconds` bounds each
    nvidia-smi command; the whole NVML read has a deadline of its own (`nvml.deadline_seconds`: 30 s,
    $TPDOCTOR_NVML_DEADLINE, never shorter than `timeout_seconds`), because nvmlInit alone can take
    seconds on a node without persistence mode. A node in (or built for) a multi-node NVLink domain also
    gets its IMEX state read (`probes/imex.py`). The snapshot records how much of the node it sees
    (`probes/view.py`: a container given some GPUs sees a subset), and GPUs nvidia-smi cannot read outside that
    view are notes, not missing GPUs (`model/view.py`).
    """
    from dataclasses import replace

    from tpdoctor.model.view import apply_view
    from tpdoctor.probes import imex, smi_probe
    from tpdoctor.probes.view import detect_view

    timeout = smi_probe.default_timeout() if timeout_seconds is None else timeout_seconds
    topology = _probe(kind, runner, timeout_seconds, nvml_lib)
    view, notes = detect_view()
    topology = apply_view(replace(topology, view=view, probe_notes=(*topology.probe_notes, *notes)))
    return imex.attach(topology, runner, timeout_seconds=timeout)[0]


def _probe(kind: str, runner: Runner, timeout_seconds: float | None, nvml_lib: ModuleType | None) -> Topology:
    if kind not in PROBE_KINDS:
        raise ProbeError(f"unknown probe {kind!r}", hint=f"choose one of {', '.join(PROBE_KINDS)}")
    from tpdoctor.probes import smi_probe

    timeout = smi_probe.default_timeout() if timeout_seconds is None else timeout_seconds
    if kind == "smi":
        return smi_probe.probe(runner, timeout_seconds=timeout)
    from tpdoctor.probes import nvml

    deadline = nvml.deadline_seconds(timeout_seconds)
    if kind == "nvml":
        return nvml.probe_nvml(nvml_lib, deadline_seconds=deadline)
    try:
        primary = nvml.probe_nvml(nvml_lib, deadline_seconds=deadline)
    except nvml.NvmlDeadlineError:
        raise
    except ProbeError as nvml_error:
        smi_only = smi_probe.probe(runner, timeout_seconds=timeout)
        from dataclasses import replace

        return replace(smi_only, probe_notes=(*smi_only.probe_notes,
                                              f"NVML unavailable ({nvml_error.message}); used nvidia-smi"))
    from tpdoctor.probes.merge import merge

    try:
        secondary = smi_probe.probe(runner, timeout_seconds=timeout)
    except ProbeError as smi_error:
        from dataclasses import replace

        return replace(primary, probe_notes=(*primary.probe_notes,
                                             f"nvidia-smi not merged: {smi_error.message}"))
    return merge(primary, secondary)
