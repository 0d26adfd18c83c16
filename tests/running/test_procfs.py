"""/proc read as hostile input, through a crafted root: escape sequences, megabyte command lines, bytes that
are not UTF-8, secrets, names with parentheses, every cgroup shape tpdoctor names, the kubelet's pod files,
PID namespaces, processes that vanish or cannot be read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.model.redact import REDACTED
from tpdoctor.model.running import HOST_PID_NS_INODE, ComputeProcess, Running
from tpdoctor.model.unknown import Unknown
from tpdoctor.probes import procfs
from tpdoctor.probes.running import look_up

ID = "4f" * 32


def fake_proc(root: Path, procs: list[dict[str, Any]], ns: str | None = f"pid:[{HOST_PID_NS_INODE}]") -> Path:
    """A /proc with these processes: pid, ppid, comm, cmdline (list or bytes), environ (dict or bytes), cgroup."""
    if ns is not None:
        (root / "self" / "ns").mkdir(parents=True)
        os.symlink(ns, root / "self" / "ns" / "pid")
    for p in procs:
        d = root / str(p["pid"])
        d.mkdir(parents=True)
        (d / "stat").write_text(f"{p['pid']} ({p.get('comm', 'python3')}) S {p.get('ppid', 1)} 1 1 0 -1\n")
        cmd = p.get("cmdline", ["python3"])
        (d / "cmdline").write_bytes(cmd if isinstance(cmd, bytes) else b"".join(a.encode() + b"\0" for a in cmd))
        env = p.get("environ", {})
        if isinstance(env, bytes):
            (d / "environ").write_bytes(env)
        elif env is not None:
            (d / "environ").write_bytes(b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items()))
        (d / "cgroup").write_text(p.get("cgroup", "0::/user.slice\n"))
        (d / "status").write_text(f"Name:\tx\nNSpid:\t{p['pid']}\n")
    return root


def read(tmp: Path, proc: dict[str, Any], kubelet: Path | None = None):  # type: ignore[no-untyped-def]
    root = fake_proc(tmp / "proc", [{"pid": 42, **proc}])
    return procfs.Reader(root, kubelet or tmp / "kubelet").process(42)


def test_escape_sequences_and_bad_utf8_become_printable(tmp_path: Path) -> None:
    p = read(tmp_path, {"cmdline": b"vllm\0serve\0\x1b[2J\x1b]0;owned\x07m\xff\xfe\0--port\x008000\0"})
    assert p.cmdline == ("vllm", "serve", "\\x1b[2J\\x1b]0;owned\\x07m\ufffd\ufffd", "--port", "8000")
    assert all(ch.isprintable() for a in p.cmdline for ch in a)


def test_a_huge_command_line_is_capped(tmp_path: Path) -> None:
    p = read(tmp_path, {"cmdline": b"python3\0" + b"A" * (5 * 1024 * 1024) + b"\0" + b"-x\0" * 100000})
    assert p.cmdline_truncated
    assert len(p.cmdline) <= procfs.MAX_ARGS and max(len(a) for a in p.cmdline) <= procfs.MAX_ARG_CHARS
    assert p.cmdline[1].endswith("…")


def test_setproctitle_padding_and_a_name_with_parentheses(tmp_path: Path) -> None:
    p = read(tmp_path, {"comm": "evil) S 1 (x", "ppid": 7, "cmdline": b"VLLM::Worker_TP1" + b"\0" * 300})
    assert (p.name, p.ppid, p.cmdline) == ("evil) S 1 (x", 7, ("VLLM::Worker_TP1",))


def test_environment_keeps_only_what_tpdoctor_reads_and_redacts_secrets(tmp_path: Path) -> None:
    env = {"HOME": "/root", "NCCL_P2P_DISABLE": "1", "CUDA_VISIBLE_DEVICES": "0,1", "VLLM_API_KEY": "sk-abc",
           "NUM_SHARD": "2", "AWS_SECRET_ACCESS_KEY": "xyz", "SLURM_JOB_ID": "12", "MAX_TOTAL_TOKENS": "4096",
           "VLLM_HOST": "https://user:pw@proxy:8080", "PS1": "\x1b[31m$ "}
    p = read(tmp_path, {"environ": env, "cmdline": ["vllm", "serve", "m", "--api-key", "sk-abc",
                                                     "--hf-token=hf_" + "a" * 34]})
    assert p.env == {"NCCL_P2P_DISABLE": "1", "CUDA_VISIBLE_DEVICES": "0,1", "VLLM_API_KEY": REDACTED,
                     "NUM_SHARD": "2", "SLURM_JOB_ID": "12", "MAX_TOTAL_TOKENS": "4096",
                     "VLLM_HOST": f"https://{REDACTED}@proxy:8080"}
    assert p.cmdline == ("vllm", "serve", "m", "--api-key", REDACTED, f"--hf-token={REDACTED}")


def test_an_environment_that_cannot_be_read_is_said(tmp_path: Path) -> None:
    root = fake_proc(tmp_path / "proc", [{"pid": 42, "environ": None}])
    (root / "42" / "environ").mkdir()  # not a regular file: refused, never read
    p = procfs.Reader(root, tmp_path).process(42)
    assert p.env == {} and p.unread == {"environ": "not a regular file"}


@pytest.mark.parametrize("cgroup,runtime,pod,slurm", [
    (f"12:pids:/docker/{ID}\n0::/\n", "docker", None, None),
    (f"0::/system.slice/docker-{ID}.scope\n", "docker", None, None),
    (f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d2f6a4c_9b1e_4c5d_8e7f_123456789abc"
     f".slice/cri-containerd-{ID}.scope\n", "containerd", "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc", None),
    (f"4:memory:/kubepods/besteffort/pod0d2f6a4c-9b1e-4c5d-8e7f-123456789abc/{ID}\n0::/\n", "container",
     "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc", None),
    (f"0::/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice/crio-{ID}.scope\n", "cri-o",
     "11111111-2222-3333-4444-555555555555", None),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n", "podman",
     None, None),
    ("7:pids:/slurm/uid_1000/job_4321/step_2/task_0\n0::/\n", None, None, ("4321", "2")),
    ("0::/system.slice/slurmstepd.scope/job_4321/step_batch/user/task_0\n", None, None, ("4321", "batch")),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None, None, None),
])
def test_where_a_process_runs_from_its_cgroup(tmp_path: Path, cgroup: str, runtime: str | None, pod: str | None,
                                              slurm: tuple[str, str] | None) -> None:
    p = read(tmp_path, {"cgroup": cgroup})
    assert (p.container.runtime if p.container else None) == runtime
    assert (p.container.id if p.container else ID) == ID
    assert (p.pod.uid if p.pod else None) == pod
    assert ((p.slurm.job, p.slurm.step) if p.slurm else None) == slurm


def test_pod_namespace_and_name_from_the_kubelet(tmp_path: Path) -> None:
    uid = "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc"
    cgroup = f"0::/kubepods.slice/kubepods-pod{uid.replace('-', '_')}.slice/cri-containerd-{ID}.scope\n"
    kubelet = tmp_path / "kubelet"
    vol = kubelet / "pods" / uid / "volumes" / "kubernetes.io~projected" / "kube-api-access-x1"
    vol.mkdir(parents=True)
    (vol / "namespace").write_text("inference")
    (kubelet / "pods" / uid / "etc-hosts").write_text(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "10.1.2.3\tllama-0.llama.inference.svc.cluster.local\tllama-0\n")
    p = read(tmp_path, {"cgroup": cgroup}, kubelet)
    assert p.pod is not None and (p.pod.namespace, p.pod.name, p.pod.label) == ("inference", "llama-0",
                                                                                "inference/llama-0")


def atomic_volume(volume: Path, files: dict[str, str], stamp: str = "..2026_12_06_08_30_00.1234567") -> Path:
    """A secret or projected volume as the kubelet's atomic writer lays it out: the files in a timestamped
    directory, `..data` a symlink to it, and each name a symlink to `..data/name`."""
    (volume / stamp).mkdir(parents=True)
    for name, text in files.items():
        (volume / stamp / name).write_text(text)
        os.symlink(f"..data/{name}", volume / name)
    os.symlink(stamp, volume / "..data")
    return volume


def test_pod_namespace_from_the_kubelets_atomic_writer_layout(tmp_path: Path) -> None:
    """On a real node `namespace` is a symlink (to `..data/namespace`): never opened through O_NOFOLLOW."""
    uid = "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc"
    kubelet = tmp_path / "kubelet"
    projected = kubelet / "pods" / uid / "volumes" / "kubernetes.io~projected"
    atomic_volume(projected / "kube-api-access-x1", {"namespace": "inference", "token": "t", "ca.crt": "c"})
    p = read(tmp_path, {"cgroup": f"0::/kubepods/pod{uid}/{ID}\n"}, kubelet)
    assert p.pod is not None and p.pod.namespace == "inference"


@pytest.mark.parametrize("data", ["/etc", "../../other", "..2026_12_06_08_30_00.1234567/..", "elsewhere"])
def test_a_data_link_that_leaves_the_volume_is_not_followed(tmp_path: Path, data: str) -> None:
    uid = "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc"
    kubelet = tmp_path / "kubelet"
    volume = kubelet / "pods" / uid / "volumes" / "kubernetes.io~secret" / "v"
    volume.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "namespace").write_text("planted")
    os.symlink(outside, volume / "elsewhere")  # a stamp-like entry that is itself a link out of the volume
    (volume / "..2026_12_06_08_30_00.1234567").mkdir()
    (volume.parent.parent / "other").mkdir()  # where ../../other leads from the volume
    (volume.parent.parent / "other" / "namespace").write_text("planted")
    os.symlink(data if data != "/etc" else str(outside), volume / "..data")
    p = read(tmp_path, {"cgroup": f"0::/kubepods/pod{uid}/{ID}\n"}, kubelet)
    assert p.pod is not None and isinstance(p.pod.namespace, Unknown)


def test_pod_without_the_kubelet_directory_is_named_by_uid_with_why(tmp_path: Path) -> None:
    uid = "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc"
    p = read(tmp_path, {"cgroup": f"0::/kubepods/pod{uid}/{ID}\n"})
    assert p.pod is not None and p.pod.label == f"uid {uid}"
    assert isinstance(p.pod.namespace, Unknown) and "/var/lib/kubelet" in p.pod.namespace.reason


def test_a_fifo_in_the_kubelet_tree_is_not_read(tmp_path: Path) -> None:
    uid = "0d2f6a4c-9b1e-4c5d-8e7f-123456789abc"
    vol = tmp_path / "kubelet" / "pods" / uid / "volumes" / "kubernetes.io~projected" / "v"
    vol.mkdir(parents=True)
    os.mkfifo(vol / "namespace")  # would block a plain open() forever
    p = read(tmp_path, {"cgroup": f"0::/kubepods/pod{uid}/{ID}\n"}, tmp_path / "kubelet")
    assert p.pod is not None and isinstance(p.pod.namespace, Unknown)


@pytest.mark.parametrize("link,expect", [(f"pid:[{HOST_PID_NS_INODE}]", "host"), ("pid:[4026532175]", "other"),
                                         (None, "unknown")])
def test_pid_namespace(tmp_path: Path, link: str | None, expect: str) -> None:
    root = fake_proc(tmp_path / "proc", [], ns=link)
    assert procfs.pid_namespace(root).split(" ")[0] == expect


def test_look_up_reads_ancestors_and_lists_what_it_cannot_see(tmp_path: Path) -> None:
    root = fake_proc(tmp_path / "proc", [
        {"pid": 10, "ppid": 11, "cmdline": ["VLLM::Worker_TP0"]},
        {"pid": 11, "ppid": 12, "cmdline": ["vllm", "serve", "m"]},
        {"pid": 12, "ppid": 10, "cmdline": ["bash"]},  # a loop in the parents ends the walk
    ])
    table = (ComputeProcess(10, 0), ComputeProcess(99, 1), ComputeProcess(10, 2))
    found = look_up(Running("nvml", table=table), root, tmp_path)
    assert [p.pid for p in found.processes] == [10, 11, 12]
    assert [(h.pid, h.gpus) for h in found.hidden] == [(99, (1,))] and "not in /proc" in found.hidden[0].reason
    assert found.pid_namespace == "host"


def test_an_ancestor_that_cannot_be_read_ends_the_chain_and_hides_nothing(tmp_path: Path) -> None:
    """A Denied parent (hidepid, a stat that is not a regular file) is like a vanished one: the holder was
    read and stays seen, not hidden (which would leave the running check not made)."""
    root = fake_proc(tmp_path / "proc", [
        {"pid": 10, "ppid": 11, "cmdline": ["VLLM::Worker_TP0"]},
        {"pid": 11, "ppid": 1, "cmdline": ["vllm", "serve", "m"]},
    ])
    (root / "11" / "stat").unlink()
    (root / "11" / "stat").mkdir()  # read_bounded: Denied("not a regular file")
    found = look_up(Running("nvml", table=(ComputeProcess(10, 0),)), root, tmp_path)
    assert [p.pid for p in found.processes] == [10]
    assert found.hidden == ()


def test_bidi_overrides_and_line_separators_in_a_command_line_are_escaped(tmp_path: Path) -> None:
    """U+202E would show `--model evil‮txt.exe` reversed; U+2066-2069 isolate, U+2028/2029 break lines."""
    p = read(tmp_path, {"cmdline": "vllm\0serve\0m\u202etxt.exe\0\u2066x\u2069\0a\u2028b\u2029c\0t\tn\n\0".encode()})
    assert p.cmdline == ("vllm", "serve", "m\\u202etxt.exe", "\\u2066x\\u2069", "a\\u2028b\\u2029c", "t\\tn\\n")


def test_printable_bounds_the_escaped_text(tmp_path: Path) -> None:
    assert procfs.printable("\x1b" * 100, 10) == "\\x1b\\x1b\\…"
    assert procfs.printable("a" * 100, 10) == "a" * 9 + "…"
    assert procfs.printable("abc", 10) == "abc"
