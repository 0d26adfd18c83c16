"""Real processes that look like serving engines: the command line of a real launch, the process tree and
titles of the engine's own structure, and nothing else (each process only sleeps).

`start(argv, tree=…)` runs `argv` (e.g. `vllm serve Qwen/… --tensor-parallel-size 2`) as a Python console
script would run on a real node: `python /tmp/…/bin/vllm serve …` (a script named like the engine, whose
shebang is this interpreter). That process starts the children `tree` describes; each child is a Python
process whose command line is only its title (`VLLM::EngineCore`, `VLLM::Worker_TP0`, …), as setproctitle
leaves it, or a given argv (a TGI shard). Every process writes its PID to a file named after its label so the
test knows them; all are killed (their process group) when the context ends. `cgroup` moves the whole tree
into a cgroup directory first (a docker-, Kubernetes- or Slurm-shaped path) where the machine allows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# What every fake process runs: write its pid, start its children, sleep. Read from stdin by titled
# children (so their command line is the title alone), from the console script by the root.
PROGRAM = r'''
import json, os, subprocess, sys, time
spec = json.loads(os.environ.pop("FAKE_ENGINE_SPEC"))
def start(node):
    env = dict(os.environ)
    env.update(node.get("env", {}))
    env["FAKE_ENGINE_SPEC"] = json.dumps(node)
    argv = node.get("argv") or [node["title"]]
    p = subprocess.Popen(argv, executable=os.environ["FAKE_ENGINE_PYTHON"], stdin=subprocess.PIPE, env=env)
    p.stdin.write(("PROGRAM = %r\nexec(PROGRAM)\n" % PROGRAM).encode()); p.stdin.close()
    return p
kids = [start(c) for c in spec.get("children", [])]
with open(os.path.join(os.environ["FAKE_ENGINE_PIDS"], spec["label"]), "w") as f:
    f.write(str(os.getpid()))
time.sleep(float(os.environ.get("FAKE_ENGINE_SECONDS", "120")))
'''


def _script(directory: Path, name: str) -> Path:
    path = directory / name
    body = f"#!{sys.executable}\nPROGRAM = {PROGRAM!r}\nexec(PROGRAM)\n"
    path.write_text(body)
    path.chmod(0o755)
    return path


def _labels(node: dict[str, Any]) -> list[str]:
    return [node["label"], *(x for c in node.get("children", []) for x in _labels(c))]


def _prepare(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Give each child a label (its title, else its argv's first word) and the program text."""
    out = dict(node)
    if "label" not in out:
        out["label"] = node.get("title") or os.path.basename(node["argv"][0])
    kids = [_prepare(c) for c in node.get("children", [])]
    if kids:
        out["children"] = kids
    return out


class Tree:
    def __init__(self, root: subprocess.Popen[bytes], pids: dict[str, int]) -> None:
        self.root = root
        self.pids = pids

    def __getitem__(self, label: str) -> int:
        return self.pids[label]


@contextmanager
def start(argv: Sequence[str], tmp: Path, *, tree: Sequence[dict[str, Any]] = (), env: Mapping[str, str] | None = None,
          cgroup: Path | None = None, seconds: float = 120.0) -> Iterator[Tree]:
    """Run the fake engine; yield its PIDs by label (the root's label is `root`)."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    script = _script(bindir, os.path.basename(argv[0]))
    pids_dir = tmp / f"pids-{time.monotonic_ns()}"
    pids_dir.mkdir()
    spec = _prepare({"label": "root", "children": list(tree)})
    full = {**os.environ, **(env or {}), "FAKE_ENGINE_SPEC": json.dumps(spec), "FAKE_ENGINE_PIDS": str(pids_dir),
            "FAKE_ENGINE_SECONDS": str(seconds), "FAKE_ENGINE_PYTHON": sys.executable}
    gate_r, gate_w = os.pipe()
    # `sh` waits on the gate until the test has moved it into its cgroup, then becomes the engine (exec)
    shell = f"read _ <&{gate_r}; exec \"$0\" \"$@\""
    proc = subprocess.Popen(["sh", "-c", shell, str(script), *argv[1:]], env=full, pass_fds=(gate_r,),
                            start_new_session=True)
    os.close(gate_r)
    try:
        if cgroup is not None:
            cgroup.mkdir(parents=True, exist_ok=True)
            (cgroup / "cgroup.procs").write_text(str(proc.pid))
        os.write(gate_w, b"go\n")
        os.close(gate_w)
        want = set(_labels(spec))
        deadline = time.monotonic() + 20
        while {p.name for p in pids_dir.iterdir()} != want:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"fake engine did not start: {sorted(p.name for p in pids_dir.iterdir())}")
            time.sleep(0.02)
        yield Tree(proc, {p.name: int(p.read_text()) for p in pids_dir.iterdir()})
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if cgroup is not None:
            _remove(cgroup)


def _remove(cgroup: Path) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            made = [p for p in [cgroup, *cgroup.parents] if p.name and "tpd" in str(p)]
            for d in sorted(made, key=lambda p: -len(str(p))):
                d.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
