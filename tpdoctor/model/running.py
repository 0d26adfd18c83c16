"""What runs on the node's GPUs now: the compute-process table, the processes behind it, the groups they form.

The probes fill `Running` (`probes/running.py`): the driver's table of compute processes per GPU (NVML
`nvmlDeviceGetComputeRunningProcesses`, or `nvidia-smi --query-compute-apps`), and for each process that
holds a GPU, and each of its ancestors, what `/proc` shows: command line, the environment variables that
matter, cgroup (container, Kubernetes pod, Slurm step). Everything a person could have put a secret in is
redacted as it is read (`model/redact.py`). Processes the table names but `/proc` does not show (another
PID namespace, a process that exited) are `hidden`, with why.

`running/` groups the processes into serving instances (`RunningGroup`, one engine's TP group) and judges
each as a deployment on this topology; it writes the groups back with their status. Coverage (`check`): the
groups are a check like the others, not made when the table could not be read or a GPU is held by a
process tpdoctor cannot see — never "no groups" (docs/running.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdoctor.model.unknown import Maybe, Unknown

PID_MAX = 4_194_304  # the kernel's PID_MAX_LIMIT (2^22)
HOST_PID_NS_INODE = 4026531836  # the initial PID namespace's inode (PROC_PID_INIT_INO, include/linux/proc_ns.h)
HOST_PID = "hostPID: true in the DaemonSet (docker run --pid=host; systemd and cron run in the host's PID namespace)"
WHAT = "running TP groups"
QUERY_APPS = "nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader"


@dataclass(frozen=True)
class ComputeProcess:
    """One row of the driver's table: a process holding a CUDA context on a GPU."""

    pid: int
    gpu: int  # NVML index
    used_memory_mib: Maybe[int] = Unknown("not read")
    gpu_instance_id: int | None = None  # MIG: the GPU instance (None: not a MIG device)
    compute_instance_id: int | None = None


@dataclass(frozen=True)
class Container:
    runtime: str  # docker | containerd | cri-o | podman | container (an id in a cgroup path we cannot name)
    id: str  # as the cgroup path writes it (64 hex characters)

    @property
    def short(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class Pod:
    """A Kubernetes pod: its UID from the cgroup path; namespace and name from the kubelet's pod directory."""

    uid: str
    namespace: Maybe[str] = Unknown("not read")
    name: Maybe[str] = Unknown("not read")

    @property
    def label(self) -> str:
        if isinstance(self.namespace, str) and isinstance(self.name, str):
            return f"{self.namespace}/{self.name}"
        return f"uid {self.uid}"


@dataclass(frozen=True)
class SlurmStep:
    job: str
    step: Maybe[str] = Unknown("not in the cgroup path or the environment")

    @property
    def label(self) -> str:
        return f"job {self.job}" + (f" step {self.step}" if isinstance(self.step, str) else "")


@dataclass(frozen=True)
class Process:
    """One process as /proc showed it: bounded, made printable, secrets redacted."""

    pid: int
    ppid: int | None
    name: str  # /proc/PID/comm (the kernel's 15-character name)
    cmdline: tuple[str, ...] = ()  # empty: a kernel thread, a zombie, or unreadable (see `unread`)
    cmdline_truncated: bool = False
    env: dict[str, str] = field(default_factory=dict)  # the variables tpdoctor reads (data/running.yaml)
    cgroup: str = ""  # the cgroup path that names the container (v2, else the most specific v1 path)
    container: Container | None = None
    pod: Pod | None = None
    slurm: SlurmStep | None = None
    nspid: tuple[int, ...] = ()  # NSpid: its PID in each PID namespace, outermost first
    unread: dict[str, str] = field(default_factory=dict)  # what could not be read (cmdline, environ) and why


@dataclass(frozen=True)
class Hidden:
    """A PID the driver's table names that tpdoctor could not look at."""

    pid: int
    gpus: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class RunningGroup:
    """One serving instance (a TP group) as found on the node, and its verdict."""

    name: str  # "vllm (pod default/llama-0)": the subject of its findings
    root: int  # the process that launched it (an engine command line, a launcher, or the holder itself)
    pids: tuple[int, ...]  # the processes that hold its GPUs
    gpus: tuple[int, ...]  # the GPUs they hold
    engine: Maybe[str] = Unknown("not read")
    model: Maybe[str] = Unknown("not read")
    tp: Maybe[int] = Unknown("not read")
    pp: Maybe[int] = Unknown("not read")
    runtime: str = "process"  # process | docker | containerd | cri-o | podman | kubernetes | slurm | ray
    container: Container | None = None
    pod: Pod | None = None
    slurm: SlurmStep | None = None
    ray_job: str | None = None
    cmdline: tuple[str, ...] = ()  # the root's command line, redacted
    how: str = ""  # how its processes were joined (the engine's structure that told)
    notes: tuple[str, ...] = ()
    status: str = "unknown"  # ok | warning | critical | unknown, after judging
    rules: tuple[str, ...] = ()  # rules with an active finding on it

    @property
    def gpu_labels(self) -> str:
        return "+".join(f"GPU{i}" for i in self.gpus)


@dataclass(frozen=True)
class Running:
    """The compute-process table and the processes behind it (see the module docstring)."""

    source: str  # nvml | nvidia-smi
    table: tuple[ComputeProcess, ...] = ()
    table_unread: str | None = None  # why the table could not be read (then nothing below is known)
    processes: tuple[Process, ...] = ()  # every holder that could be seen, and its ancestors
    hidden: tuple[Hidden, ...] = ()
    pid_namespace: str = "host"  # host | other (a container without hostPID) | unknown: why
    groups: tuple[RunningGroup, ...] = ()  # filled by running/ when judged
    notes: tuple[str, ...] = ()

    def process(self, pid: int) -> Process | None:
        return next((p for p in self.processes if p.pid == pid), None)

    def holders(self) -> dict[int, tuple[int, ...]]:
        """pid -> the GPUs it holds, in GPU order."""
        out: dict[int, set[int]] = {}
        for row in self.table:
            out.setdefault(row.pid, set()).add(row.gpu)
        return {pid: tuple(sorted(g)) for pid, g in sorted(out.items())}

