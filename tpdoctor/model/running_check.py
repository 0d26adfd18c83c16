"""The running groups as a coverage check (`model/coverage.py`): made only when every process that holds a
GPU was seen. An empty table read from the host's PID namespace is a made check (nothing runs); a table
that could not be read, a PID namespace that is not the host's, or a holder tpdoctor cannot see is a check
not made, with why and the fix (docs/running.md) — never "no groups"."""

from __future__ import annotations

from tpdoctor.model.running import HOST_PID, QUERY_APPS, WHAT, Running
from tpdoctor.model.topology import Check, CheckState


def _gpus(gpus: list[int] | set[int]) -> str:
    return "+".join(f"GPU{g}" for g in sorted(gpus))


def running_check(running: Running) -> Check:
    if running.table_unread is not None:
        return Check("running", CheckState.NOT_MADE, WHAT, reason=running.table_unread, command=QUERY_APPS)
    if running.pid_namespace != "host":
        held = sorted({r.gpu for r in running.table})
        return Check("running", CheckState.NOT_MADE, WHAT,
                     reason=f"tpdoctor runs in another PID namespace than the GPU processes ({running.pid_namespace}): "
                            "the driver names host PIDs (or none) and this /proc shows other processes, so no "
                            "group can be seen",
                     command=f"run it in the host's PID namespace: {HOST_PID}",
                     subjects=tuple(f"GPU{g}" for g in held))
    if running.hidden:
        first = running.hidden[0]
        gpus = {g for h in running.hidden for g in h.gpus}
        return Check("running", CheckState.NOT_MADE, WHAT,
                     reason=f"{len(running.hidden)} GPU process(es) not visible: PID {first.pid} on "
                            f"{_gpus(set(first.gpus))}: {first.reason}",
                     command=f"run tpdoctor as root in the host's PID namespace: {HOST_PID}",
                     subjects=tuple(f"GPU{g}" for g in sorted(gpus)))
    return Check("running", CheckState.MADE, WHAT)
