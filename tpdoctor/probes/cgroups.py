"""Where a process runs, from its cgroup path (`/proc/PID/cgroup`) and the kubelet's pod directory.

Pure parsing of the path, plus one bounded read of the kubelet's files. The path shapes (cgroup v1 and v2,
the cgroupfs and systemd drivers):

| runtime | path part |
|---|---|
| Docker | `/docker/<id>` (v1), `/system.slice/docker-<id>.scope` (v2, systemd) |
| containerd (Kubernetes) | `…/cri-containerd-<id>.scope` |
| CRI-O | `…/crio-<id>.scope` |
| Podman | `…/libpod-<id>.scope` |
| Kubernetes pod | `/kubepods/[burstable/|besteffort/]pod<uid>/<id>`, `…/kubepods-<qos>-pod<uid with _>.slice/…` |
| Slurm step | `/slurm/uid_<u>/job_<j>/step_<s>/…` (v1), `/system.slice/slurmstepd.scope/job_<j>/step_<s>/…` (v2) |

A pod's namespace and name are not in the path: the kubelet keeps them under `/var/lib/kubelet/pods/<uid>/`
— the namespace in the service-account token volume (`volumes/kubernetes.io~projected/*/..data/namespace`:
the kubelet's atomic writer makes `namespace` itself a symlink), the pod's host name (its name, unless
`spec.hostname` sets another) in `etc-hosts`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tpdoctor.model.running import Container, Pod, SlurmStep
from tpdoctor.model.unknown import Maybe, Unknown

KUBELET_ROOT_ENV = "TPDOCTOR_KUBELET_ROOT"
DEFAULT_KUBELET_ROOT = "/var/lib/kubelet"
_HEX64 = r"([0-9a-f]{64})"
_RUNTIMES = ((re.compile(rf"docker-{_HEX64}\.scope"), "docker"), (re.compile(rf"/docker/{_HEX64}"), "docker"),
             (re.compile(rf"cri-containerd-{_HEX64}\.scope"), "containerd"),
             (re.compile(rf"crio-{_HEX64}\.scope"), "cri-o"), (re.compile(rf"libpod-{_HEX64}\.scope"), "podman"),
             (re.compile(rf"/{_HEX64}(/|$)"), "container"))
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_SLURM = re.compile(r"/job_(\d+)(?:/step_([A-Za-z0-9_]+))?")
MAX_KUBELET_FILE = 64 * 1024


def cgroup_paths(text: str) -> list[str]:
    """The paths of `/proc/PID/cgroup` lines (`hierarchy:controllers:path`), v2 (`0::`) first."""
    paths: list[tuple[bool, str]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2]:
            paths.append((parts[0] != "0" or parts[1] != "", parts[2]))
    return [p for _, p in sorted(paths, key=lambda x: x[0])]


def main_path(paths: Sequence[str]) -> str:
    """The path that says the most: the one naming a container, pod or Slurm step, else the longest."""
    telling = [p for p in paths if container_of([p]) or _POD.search(p) or _SLURM.search(p)]
    return (telling or sorted(paths, key=len, reverse=True) or [""])[0]


def container_of(paths: Sequence[str]) -> Container | None:
    for path in paths:
        for pattern, runtime in _RUNTIMES:
            m = pattern.search(path)
            if m:
                return Container(runtime, m.group(1))
    return None


def pod_uid(paths: Sequence[str]) -> str | None:
    for path in paths:
        m = _POD.search(path)
        if m and "kubepods" in path:
            return m.group(1).replace("_", "-")
    return None


def slurm_of(paths: Sequence[str], env: Mapping[str, str]) -> SlurmStep | None:
    """A Slurm step from the cgroup path (`job_<j>/step_<s>`), else from SLURM_JOB_ID / SLURM_STEP_ID."""
    for path in paths:
        if "slurm" not in path:
            continue
        m = _SLURM.search(path)
        if m:
            return SlurmStep(m.group(1), m.group(2) if m.group(2) else Unknown("no step in the cgroup path"))
    job = env.get("SLURM_JOB_ID", "").strip()
    if job.isdigit():
        step = env.get("SLURM_STEP_ID", "").strip()
        return SlurmStep(job, step if step else Unknown("SLURM_STEP_ID not set"))
    return None


def kubelet_root(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(KUBELET_ROOT_ENV) or DEFAULT_KUBELET_ROOT)


def pod_of(uid: str, root: Path) -> Pod:
    """The pod with namespace and name where the kubelet's pod directory says them (Unknown with why)."""
    pod_dir = root / "pods" / uid
    if not pod_dir.is_dir():
        why = f"no {pod_dir} (tpdoctor needs the host's /var/lib/kubelet mounted read-only to name the pod)"
        return Pod(uid, Unknown(why), Unknown(why))
    return Pod(uid, _namespace(pod_dir), _hostname(pod_dir))


class NotRegular(Exception):
    """The path is a FIFO, a device, a socket or a directory: nothing tpdoctor reads."""


def read_regular(path: Path | str, limit: int, *, dir_fd: int | None = None) -> tuple[bytes, bool]:
    """(at most `limit` bytes of the regular file `path`, whether there was more), for /proc and the kubelet's
    files alike: the open never blocks and never follows a symbolic link at the last component. OSError as
    the open or read raise it; NotRegular for anything but a regular file (/proc files are regular, size 0).
    `dir_fd`: `path` is relative to that open directory."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        if (os.fstat(fd).st_mode & 0o170000) != 0o100000:
            raise NotRegular("not a regular file")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data[:limit], len(data) > limit
    finally:
        os.close(fd)


def _small(path: Path | str, dir_fd: int | None = None) -> str | None:
    """A small regular file's text (None when absent, not regular, too large or unreadable): the kubelet's
    files are written by the kubelet, but the tree is reachable by anyone who can write a volume."""
    try:
        data, more = read_regular(path, MAX_KUBELET_FILE, dir_fd=dir_fd)
    except (OSError, NotRegular):
        return None
    return None if more else data.decode("utf-8", "replace")


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _atomic(volume: Path, name: str) -> str | None:
    """`name` in a volume the kubelet's atomic writer keeps (secret, projected): `<volume>/name` is a symlink
    to `..data/name`, `..data` a symlink to the timestamped directory beside it that holds the files. Only
    that far is followed: `..data` must name an entry of the volume itself (no `/`), a directory and not a
    symlink; the file in it must be a regular file (no symlink either)."""
    try:
        stamp = os.readlink(volume / "..data")
    except OSError:
        return None
    if not stamp or "/" in stamp or stamp in (".", ".."):
        return None
    try:
        fd = os.open(volume / stamp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _small(name, dir_fd=fd)
    finally:
        os.close(fd)


def _namespace(pod_dir: Path) -> Maybe[str]:
    for kind in ("kubernetes.io~projected", "kubernetes.io~secret"):
        base = pod_dir / "volumes" / kind
        for volume in sorted(base.iterdir()) if base.is_dir() else ():
            text = _atomic(volume, "namespace")
            if text is None:  # a plain file (not the kubelet's layout, e.g. a copied tree)
                text = _small(volume / "namespace")
            if text is not None and _LABEL.match(text.strip()):
                return text.strip()
    return Unknown("no service-account volume with a namespace file under the kubelet's pod directory")


def _hostname(pod_dir: Path) -> Maybe[str]:
    text = _small(pod_dir / "etc-hosts")
    if text is None:
        return Unknown("no etc-hosts in the kubelet's pod directory (a hostNetwork pod?)")
    names = [line.split()[-1] for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#") and len(line.split()) >= 2]
    names = [n for n in names if not n.startswith(("localhost", "ip6-")) and _LABEL.match(n)]
    return names[-1].split(".")[0] if names else Unknown("etc-hosts names no pod host")
