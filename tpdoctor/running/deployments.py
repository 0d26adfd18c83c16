"""A running group as a `Deployment`: its launch read with the manifest readers, pinned to what it holds.

The root's command line and environment go through `manifests/build.make`, exactly as a script's command
would: TP, PP, DP, the model, dtype, the engine's knobs, TGI's options from its environment. The GPUs are
the ones the group's processes hold (NVML indices), whatever CUDA_VISIBLE_DEVICES says inside a container
(its numbering is the container's). A Ray group's engine comes from its workers' actor class and its TP
from the GPUs they hold here; a group whose launch cannot be read gets no Deployment, only its GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.manifests import build
from tpdoctor.manifests.script import Found
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.engine_procs import structure
from tpdoctor.model.running import Container, Pod, Process, SlurmStep
from tpdoctor.running import processes as procs
from tpdoctor.running.groups import Candidate


@dataclass(frozen=True)
class Place:
    """Where a group runs, as its name and metrics say it."""

    runtime: str
    where: str  # "pod default/llama-0", "container 1a2b3c4d5e6f", "slurm job 12 step 0", "pid 4242"
    container: Container | None = None
    pod: Pod | None = None
    slurm: SlurmStep | None = None


def place(cand: Candidate) -> Place:
    """Kubernetes pod first (its container too), then a container, a Slurm step, a Ray job, the process."""
    probe = [p for p in (cand.root, *cand.holders) if p is not None]
    pod = next((p.pod for p in probe if p.pod is not None), None)
    container = next((p.container for p in probe if p.container is not None), None)
    slurm = next((p.slurm for p in probe if p.slurm is not None), None)
    if pod is not None:
        return Place("kubernetes", f"pod {pod.label}", container, pod, slurm)
    if container is not None:
        return Place(container.runtime, f"container {container.short}", container, None, slurm)
    if slurm is not None:
        return Place("slurm", f"slurm {slurm.label}", None, None, slurm)
    if cand.ray_job is not None:
        return Place("ray", f"ray job {cand.ray_job}")
    root = cand.root or cand.holders[0]
    return Place("process", f"pid {root.pid}")


def engine_of(cand: Candidate) -> str | None:
    """The engine: from the launch, else from the workers' titles, command lines or Ray actor class."""
    if cand.launch is not None:
        return cand.launch.engine
    for p in cand.holders:
        titled = procs.title_of(p)
        if titled is not None and titled.actor:
            found = structure().ray_actors.get(titled.actor)
            if found:
                return found
        if titled is not None and titled.title.engine:
            return titled.title.engine
        worker = procs.worker_of(p)
        if worker is not None and worker.engine:
            return worker.engine
    return None


def _env(root: Process, holders: list[Process]) -> dict[str, str]:
    """The launch's environment; NCCL variables a worker has and the root lacks are added (a launcher can
    hand them to its workers only)."""
    env = dict(root.env)
    for h in holders:
        for k, v in h.env.items():
            if k.startswith("NCCL_") and k not in env:
                env[k] = v
    return env


def deployment(cand: Candidate, name: str) -> Deployment | str:
    """The group's Deployment, or why there is none (the launch could not be read)."""
    gpus = cand.all_gpus
    key = cand.key
    if cand.launch is None or cand.root is None:
        engine = engine_of(cand)
        if engine is None or cand.ray_job is None:
            return _unread_reason(cand)
        return Deployment(name=name, engine=engine, model="", kind="process", source=key, tp=len(gpus), gpus=gpus,
                          gpu_count=len(gpus), key=key, placement="pinned", gpu_scope="host", runtime="ray",
                          notes=(f"TP={len(gpus)} assumed from the GPUs its Ray workers hold here: the engine's "
                                 "command line is in the Ray driver",))
    found = Found(cand.launch, _env(cand.root, cand.holders))
    made = build.make(found, build.Context(source=key, kind="process", name=name))
    if isinstance(made, build.Skip):
        return f"its launch is {made.why}"
    notes = list(made.notes)
    tp = made.tp
    if "tp" in made.unknown:  # TGI without --num-shard: the shards say how many there are
        tp = _shards(cand) or len(gpus)
        notes.append(f"TP={tp} from its {len(cand.holders)} shard process(es) (no --num-shard on its command line)")
    if cand.dp is not None:
        notes.append(f"DP rank {cand.dp} of {made.replicas}: one TP group of a data-parallel engine")
    # the GPUs its processes hold are host GPUs (NVML indices), whatever the launch's own numbering said
    return made.with_values(tp=tp, gpus=gpus, gpu_uuids=(), gpu_count=len(gpus), key=key, node=None,
                            placement="pinned", gpu_scope="host",
                            replicas=1 if cand.dp is not None else made.replicas, unknown={
                                k: v for k, v in made.unknown.items() if k != "tp"},
                            shards_from_visible_gpus=False, notes=tuple(dict.fromkeys(notes)))


def _shards(cand: Candidate) -> int | None:
    for h in cand.holders:
        worker = procs.worker_of(h)
        size = h.env.get(worker.tp_env, "") if worker is not None and worker.tp_env else ""
        if size.isdigit() and 0 < int(size) <= 1024:
            return int(size)
    return None


def _unread_reason(cand: Candidate) -> str:
    root = cand.root or cand.holders[0]
    if "cmdline" in root.unread:
        return f"the command line of pid {root.pid} could not be read ({root.unread['cmdline']})"
    words = procs.argv(root)
    first = words[0] if words else root.name
    return f"pid {root.pid} ({procs.base(first)[:40]}) is not a vLLM, SGLang, TGI or TensorRT-LLM launch tpdoctor reads"
