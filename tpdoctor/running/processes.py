"""What one process is, read from its command line: an engine launch, an engine's own worker, a launcher
of ranks, or something else (`data/running.yaml` for the titles and worker command lines).

An engine launch is read with the same launcher grammar as a manifest's command (`manifests/launch.py`), so
`vllm serve …`, `python -m sglang.launch_server …`, `text-generation-launcher …`, `trtllm-serve …` and the
wrappers around them (`torchrun`, `mpirun`, `numactl`, …) are recognised exactly as in a script. A Python
console script runs as `python /path/to/vllm serve …`: the interpreter is dropped first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpdoctor.manifests.launch import Launch, find
from tpdoctor.manifests.words import Token
from tpdoctor.model.deployment import Origin
from tpdoctor.model.engine_procs import Title, Worker, structure
from tpdoctor.model.running import Process

_PYTHON = re.compile(r"^(python[0-9.]*|pypy3?)$")


def base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def argv(proc: Process) -> list[str]:
    """The command line as the program sees it, with a console script's interpreter dropped
    (`/usr/bin/python3 /usr/local/bin/vllm serve M` -> `vllm serve M`)."""
    args = list(proc.cmdline)
    if len(args) >= 2 and _PYTHON.match(base(args[0])) and not args[1].startswith("-") \
            and not args[1].endswith(".py") and "/" in args[1]:
        return [base(args[1]), *args[2:]]
    return args


def launch_of(proc: Process) -> Launch | None:
    """The engine launch in this process's command line (serve or a project's own wrapper), or None."""
    args = argv(proc)
    if not args:
        return None
    origin = Origin(f"pid {proc.pid}")
    found = find([Token(a, origin) for a in args])
    return found if found is not None and found.role in ("serve", "wrapper") and found.engine else None


@dataclass(frozen=True)
class Titled:
    title: Title
    ranks: dict[str, int]  # dp, pp, tp from the title, where it carries them
    actor: str | None = None  # a Ray worker's actor class


def title_of(proc: Process) -> Titled | None:
    """A process renamed by setproctitle: its command line is one word (trailing padding dropped)."""
    words = [a for a in proc.cmdline if a.strip()]
    if len(words) != 1:
        return None
    hit = structure().title(words[0].strip())
    if hit is None:
        return None
    title, m = hit
    groups = m.groupdict()
    ranks = {k: int(v) for k, v in groups.items() if k in ("dp", "pp", "tp") and v is not None}
    return Titled(title, ranks, groups.get("actor"))


def worker_of(proc: Process) -> Worker | None:
    """An engine's own worker command line (a TGI shard, an MPI-spawned rank, a multiprocessing child)."""
    args = argv(proc)
    if not args:
        return None
    for w in structure().workers:
        if w.script and base(args[0]) == w.script:
            return w
        if w.module and "-m" in args and args.index("-m") + 1 < len(args) and args[args.index("-m") + 1] == w.module:
            return w
        if w.code and "-c" in args and args.index("-c") + 1 < len(args) and w.code in args[args.index("-c") + 1]:
            return w
        if w.script and len(proc.cmdline) > 1 and base(proc.cmdline[1]) == w.script:
            return w
    return None


def is_launcher(proc: Process) -> bool:
    """mpirun, orted, torchrun, slurmstepd …: a process whose children are the ranks of one job."""
    names = {proc.name, base(proc.cmdline[0]) if proc.cmdline else ""}
    args = argv(proc)
    if len(args) > 2 and args[1] == "-m" and args[2] in ("torch.distributed.run", "torch.distributed.launch"):
        return True
    return bool(names & structure().launchers) or any(n.startswith("slurmstepd") for n in names)


def internal(proc: Process) -> bool:
    """A process that is part of an engine (titled, or a worker command line), never a group's root."""
    return title_of(proc) is not None or worker_of(proc) is not None


def ray_job(proc: Process) -> str | None:
    """The Ray job of a Ray worker (the raylet hands RAY_JOB_ID to every worker it starts), or None."""
    job = proc.env.get("RAY_JOB_ID")
    titled = title_of(proc)
    if job:
        return job
    if titled is not None and titled.title.pattern.pattern.startswith("^ray::"):
        return "unknown"
    return None
