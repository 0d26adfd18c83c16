"""Processes that hold GPUs, grouped into serving instances by the engines' own process structure.

For each process in the driver's table, walk up its ancestors (all read from /proc by the probe):

1. the topmost ancestor (or itself) whose command line is an engine launch is the group's root: vLLM's
   `vllm serve` above its `VLLM::EngineCore` and `VLLM::Worker_TP<n>` processes, SGLang's `launch_server`
   above its `sglang::scheduler_TP<n>`, TGI's `text-generation-launcher` above its `text-generation-server`
   shards, `mpirun … trtllm-serve` above its ranks, `torchrun … sglang` above its workers;
2. else a Ray worker (`ray::<actor>`, RAY_JOB_ID) belongs to its Ray job's group on this node (the engine's
   command line is in the Ray driver, which need not run here);
3. else the nearest ancestor that is not one of an engine's own workers, or — when it is a rank of a
   launcher (mpirun, torchrun, slurmstepd …) — that launcher: a group whose engine is not read.

A group's GPUs are the GPUs its processes hold. An engine with data parallelism inside one launch (vLLM
`--data-parallel-size`, SGLang `--dp-size`) runs one TP group per DP rank: the rank is in each worker's
title, and `split_by_dp` makes one group of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.manifests.launch import Launch
from tpdoctor.model.running import Process, Running
from tpdoctor.running import processes as procs


@dataclass
class Candidate:
    """A group before it is read and judged."""

    root: Process | None  # None: a Ray job whose root is not on this node
    holders: list[Process] = field(default_factory=list)
    gpus: dict[int, tuple[int, ...]] = field(default_factory=dict)  # holder pid -> GPUs it holds
    launch: Launch | None = None
    how: str = ""
    ray_job: str | None = None
    dp: int | None = None  # the DP rank this group is, after split_by_dp

    @property
    def all_gpus(self) -> tuple[int, ...]:
        return tuple(sorted({g for gs in self.gpus.values() for g in gs}))

    @property
    def key(self) -> str:
        if self.root is not None:
            return f"pid {self.root.pid}" + (f" DP{self.dp}" if self.dp is not None else "")
        return f"ray job {self.ray_job}"


def chain(pid: int, by_pid: dict[int, Process]) -> list[Process]:
    """The process and its ancestors the probe read, nearest first (a loop or a gap ends it)."""
    out: list[Process] = []
    seen: set[int] = set()
    current: int | None = pid
    while current is not None and current in by_pid and current not in seen:
        seen.add(current)
        out.append(by_pid[current])
        current = by_pid[current].ppid
    return out


def _root(line: list[Process]) -> tuple[Process | None, Launch | None, str, str | None]:
    """(root, its launch, how it was found, Ray job) for one holder's ancestor line."""
    launches = [(p, lc) for p in line if (lc := procs.launch_of(p)) is not None]
    if launches:
        root, lc = launches[-1]
        return root, lc, f"{lc.engine} launch at pid {root.pid}", None
    job = procs.ray_job(line[0])
    if job is not None:
        return None, None, f"Ray job {job}", job
    own = next((p for p in line if not procs.internal(p)), line[-1])
    parent = next((p for p in line[line.index(own) + 1:][:2] if procs.is_launcher(p)), None)
    if parent is not None:
        return parent, None, f"ranks of {parent.name} (pid {parent.pid})", None
    return own, None, f"process tree of pid {own.pid}", None


def find_groups(running: Running) -> list[Candidate]:
    by_pid = {p.pid: p for p in running.processes}
    groups: dict[str, Candidate] = {}
    for pid, gpus in running.holders().items():
        if pid not in by_pid:
            continue  # hidden: the coverage check says so
        line = chain(pid, by_pid)
        root, launch, how, job = _root(line)
        cand = Candidate(root, launch=launch, how=how, ray_job=job)
        cand = groups.setdefault(cand.key, cand)
        cand.holders.append(by_pid[pid])
        cand.gpus[pid] = gpus
    return list(groups.values())


def dp_rank(holder: Process, by_pid: dict[int, Process]) -> int | None:
    """The data-parallel rank a holder's title (or its engine core's, above it) carries."""
    for p in chain(holder.pid, by_pid)[:4]:
        titled = procs.title_of(p)
        if titled is not None and "dp" in titled.ranks:
            return titled.ranks["dp"]
    return None


def split_by_dp(cand: Candidate, running: Running) -> list[Candidate]:
    """One group per data-parallel rank, when every holder's title names one; else the group as it is.
    SGLang's DP attention (`--enable-dp-attention`) runs its DP ranks inside one TP group: never split."""
    if cand.launch is not None and any(a.text.replace("_", "-").startswith("--enable-dp-attention")
                                       for a in cand.launch.args):
        return [cand]
    by_pid = {p.pid: p for p in running.processes}
    ranks = {h.pid: dp_rank(h, by_pid) for h in cand.holders}
    if any(r is None for r in ranks.values()) or len(set(ranks.values())) < 2:
        return [cand]
    out: dict[int, Candidate] = {}
    for h in cand.holders:
        rank = ranks[h.pid]
        assert rank is not None
        part = out.setdefault(rank, Candidate(cand.root, launch=cand.launch, how=f"{cand.how}, DP rank {rank}",
                                              ray_job=cand.ray_job, dp=rank))
        part.holders.append(h)
        part.gpus[h.pid] = cand.gpus[h.pid]
    return [out[r] for r in sorted(out)]
