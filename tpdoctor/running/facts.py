"""The running scope's facts: what the running-group rules (TPD240–TPD249) see, one subject per group.

Every group found on the node is a subject, read or not; a group whose engine was read is judged by the
deployment rules too (`running/judge.py`). These facts cover what only a running group has: whether its
engine could be read, the GPUs its processes hold against the TP × PP its launch asks for, and — for a group
whose engine is unknown — the paths between the GPUs it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tpdoctor.advice.placement import PairTable, best_group
from tpdoctor.engine.schema import INT, B, Fact, L, S, ScopeFacts, ScopeSchema, SubjectSchema
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.topology import PCIE_KINDS, Topology, path_kind

GROUP = SubjectSchema("group", "One serving instance found running on the node (docs/running.md). `id` is its "
                      "name: engine and where it runs, e.g. `vllm (pod default/llama-0)`.", {
    "name": Fact(S, "The group's name: engine (or program) and where it runs (pod, container, Slurm step, Ray "
                    "job, process)."),
    "engine": Fact(S, "vllm, sglang, tgi or trtllm; null when its launch could not be read.", True),
    "engine_read": Fact(B, "Its launch was read (a Deployment judged by the deployment rules)."),
    "why_unread": Fact(S, "Why its engine could not be read; null when it was.", True),
    "runtime": Fact(S, "process, docker, containerd, cri-o, podman, kubernetes, slurm or ray."),
    "where": Fact(S, "Where it runs, in words: pod ns/name, container id, Slurm job and step, Ray job, pid."),
    "pids": Fact(L, "The processes that hold its GPUs."),
    "gpus": Fact(L, "The GPUs its processes hold (NVML indices)."),
    "gpu_labels": Fact(S, "Those GPUs, e.g. GPU0+GPU1."),
    "gpus_held": Fact(INT, "How many GPUs its processes hold."),
    "tp": Fact(INT, "TP its launch asks for; null when not read.", True),
    "pp": Fact(INT, "PP its launch asks for; null when not read.", True),
    "gpus_needed": Fact(INT, "GPUs one copy needs on this node: TP × PP over the nodes it spans; null when not "
                             "read.", True),
    "nodes": Fact(INT, "Nodes its launch spans (--nnodes, a multi-node launcher); 1 when not said."),
    "group_path": Fact(S, "Weakest path between the GPUs it holds (topo -m vocabulary); null for one GPU.", True),
    "group_kind": Fact(S, "Its class: NV, PIX, PXB, PHB, NODE, SYS.", True),
    "weak_path": Fact(B, "Its GPUs include a pair whose expected NVLinks are down, or are joined by PCIe only."),
    "down_pairs": Fact(L, "Pairs of its GPUs whose expected NVLinks are all down, described."),
    "path_problem": Fact(S, "What is weak about the paths between its GPUs, in words; null when nothing is.", True),
    "better_group": Fact(S, "The best group of as many GPUs that no other group holds, with its path, when it is "
                            "better than this one; else says that none is free."),
    "how": Fact(S, "How its processes were joined (the engine's structure that told)."),
})

RUNNING_SCHEMA = ScopeSchema(
    "running", "Facts about each serving instance found running on the node: its processes, the GPUs they "
               "hold, and what could be read of its engine.", {"group": GROUP})


@dataclass(frozen=True)
class GroupInput:
    """What the judge knows of one group when building its facts."""

    name: str
    gpus: tuple[int, ...]
    pids: tuple[int, ...]
    runtime: str
    where: str
    how: str
    deployment: Deployment | None
    why_unread: str | None


def _down(topology: Topology, gpus: tuple[int, ...]) -> list[str]:
    out = []
    for i, a in enumerate(gpus):
        for b in gpus[i + 1:]:
            lk = topology.gpu_link(a, b)
            exp = lk.nvlinks_expected if lk is not None else 0
            if lk is not None and isinstance(exp, int) and exp > 0 and lk.nvlinks == 0:
                out.append(f"{lk.a}-{lk.b} (NVLink 0/{exp} up, traffic over {lk.path})")
    return out


def subject(g: GroupInput, topology: Topology, table: PairTable, held_elsewhere: set[int]) -> dict[str, Any]:
    d = g.deployment
    group = table.group(g.gpus) if len(g.gpus) > 1 else None
    kind = path_kind(group.weakest_path) if group and group.weakest_path else None
    down = _down(topology, g.gpus)
    best = best_group(topology, len(g.gpus), exclude=held_elsewhere, table=table) if len(g.gpus) > 1 else None
    better = f"{len(g.gpus)} GPUs joined by healthy NVLink (none is free on this node now)"
    if best is not None and group is not None and best.gpus != group.gpus and \
            best.weakest_quality < group.weakest_quality:
        better = best.label + (f" ({best.weakest_path})" if best.weakest_path else "")
    nodes = max(d.nodes, 1) if d is not None else 1
    problem = None
    if down:
        problem = "; ".join(down)
    elif kind in PCIE_KINDS and group is not None:
        sockets = ", across CPU sockets" if kind.value == "SYS" else ""
        problem = f"its GPUs meet over {group.weakest_path} (PCIe{sockets})"
    return {
        "id": g.name, "name": g.name, "engine": d.engine if d else None, "engine_read": d is not None,
        "why_unread": g.why_unread, "runtime": g.runtime, "where": g.where, "pids": list(g.pids),
        "gpus": list(g.gpus), "gpu_labels": "+".join(f"GPU{i}" for i in g.gpus), "gpus_held": len(g.gpus),
        "tp": d.tp if d else None, "pp": d.pp if d else None, "gpus_needed": d.gpus_needed if d else None,
        "nodes": nodes, "group_path": group.weakest_path if group else None,
        "group_kind": kind.value if kind else None,
        "weak_path": bool(down) or (kind in PCIE_KINDS if kind is not None else False),
        "down_pairs": down, "path_problem": problem, "better_group": better, "how": g.how, "unknown": {},
    }


def running_facts(groups: Sequence[GroupInput], topology: Topology) -> ScopeFacts:
    table = PairTable(topology)
    held = {i: set(g.gpus) for i, g in enumerate(groups)}
    subjects = [subject(g, topology, table, {x for j, s in held.items() if j != i for x in s})
                for i, g in enumerate(groups)]
    return ScopeFacts("running", {"group": subjects})
