"""A check that sees part of a node: which GPUs are outside its view, so that they are never called lost.

A container given some GPUs (`NVIDIA_VISIBLE_DEVICES=1`, `--gpus '"device=2,3"'`, a pod requesting two GPUs)
sees only those, renumbered from 0; nvidia-smi inside it may print "Unable to determine the device handle"
for the GPUs it was not given (nvidia-container-toolkit#69), and the node's baseline lists GPUs it cannot see.
The variable names the visible GPUs by UUID or by their index on the host. A GPU of the node is *outside the
view* when the view names UUIDs and not its own; when it names indices and not the GPU's index in the node's
baseline (taken on the host); or, for a GPU known only by its bus id, when every GPU the view names is already
readable (the missing one cannot be among them). Anything else missing is missing.
"""

from __future__ import annotations

from dataclasses import replace

from tpdoctor.model.health import MissingGpu, View
from tpdoctor.model.topology import Topology


def _uuids(view: View) -> set[str]:
    return {n.lower() for n in view.names if n.upper().startswith(("GPU-", "MIG-"))}


def outside(view: View | None, uuid: object, readable: int, host_index: int | None = None) -> bool:
    """Whether a GPU of the node is outside a subset view with `readable` GPUs read: by its UUID when the view
    names UUIDs, by its index on the host (a baseline taken there) when it names indices, else by count."""
    if view is None or view.scope != "subset":
        return False
    named = _uuids(view)
    if named:
        return not (isinstance(uuid, str) and uuid.lower() in named)
    if host_index is not None and all(n.isdigit() for n in view.names):
        return str(host_index) not in view.names
    return readable >= len(view.names)


def apply_view(topology: Topology) -> Topology:
    """Drop the GPUs nvidia-smi could not read that lie outside a subset view (a probe note says which)."""
    view = topology.view
    if view is None or view.scope != "subset" or not topology.missing:
        return topology
    readable = sum(1 for g in topology.gpus if g.status == "ok")
    kept: list[MissingGpu] = []
    notes: list[str] = []
    for m in topology.missing:
        if outside(view, m.uuid, readable):
            notes.append(f"{m.ident}: outside this view ({view.reason}), not judged: {m.reason}")
        else:
            kept.append(m)
    return replace(topology, missing=tuple(kept), probe_notes=(*topology.probe_notes, *notes))
