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
    python = os.environ["FAKE_ENGINE_PYTHON"]
    if node.get("argv"):  # a console script: python /…/bin/NAME args
        a = node["argv"]
        return subprocess.Popen([python, os.path.join(os.environ["FAKE_ENGINE_BIN"], os.path.basename(a[0])),
                                 *a[1:]], env=env)
    p = subprocess.Popen([node["title"]], executable=python, stdin=subprocess.PIPE, env=env)
    p.stdin.write(("PROGRAM = %r\nexec(PROGRAM)\n" % PROGRAM).encode()); p.stdin.close()
    return p
kids = [start(c) for c in spec.get("children", [])]
mine = os.path.join(os.environ["FAKE_ENGINE_PIDS"], spec["label"])
with open(mine + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(mine + ".tmp", mine)
time.sleep(float(os.environ.get("FAKE_ENGINE_SECONDS", "120")))
'''


def _script(directory: Path, name: str) -> Path:
    path = directory / name
    body = f"#!{sys.executable}\nPROGRAM = {PROGRAM!r}\nexec(PROGRAM)\n"
    path.write_text(body)
    path.chmod(0o755)
    return path


def _command(argv: Sequence[str], tmp: Path) -> tuple[list[str], dict[str, str]]:
    """How to run `argv` so that /proc shows what a node shows: `python -m pkg.mod …` runs this interpreter
    on a temporary package named like the engine's; anything else (`vllm serve …`, `trtllm-serve …`) runs a
    script named like the console script, as `python /…/bin/NAME …`."""
    if os.path.basename(argv[0]).startswith("python") and len(argv) > 2 and argv[1] == "-m":
        pkgs = tmp / "pkgs"
        parts = argv[2].split(".")
        here = pkgs
        for part in parts[:-1]:
            here = here / part
            here.mkdir(parents=True, exist_ok=True)
            (here / "__init__.py").touch()
        (here / f"{parts[-1]}.py").write_text(f"PROGRAM = {PROGRAM!r}\nexec(PROGRAM)\n")
        return [sys.executable, *argv[1:]], {"PYTHONPATH": str(pkgs)}
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    return [str(_script(bindir, os.path.basename(argv[0]))), *argv[1:]], {}


def _nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for n in nodes for x in (n, *_nodes(n.get("children", [])))]


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
    command, extra = _command(argv, tmp)
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    for node in _nodes(list(tree)):
        if node.get("argv"):
            _script(bindir, os.path.basename(node["argv"][0]))
    pids_dir = tmp / f"pids-{time.monotonic_ns()}"
    pids_dir.mkdir()
    spec = _prepare({"label": "root", "children": list(tree)})
    full = {**os.environ, **extra, **(env or {}), "FAKE_ENGINE_SPEC": json.dumps(spec),
            "FAKE_ENGINE_PIDS": str(pids_dir), "FAKE_ENGINE_SECONDS": str(seconds),
            "FAKE_ENGINE_PYTHON": sys.executable, "FAKE_ENGINE_BIN": str(bindir)}
    gate_r, gate_w = os.pipe()
    # `sh` waits on the gate until the test has moved it into its cgroup, then becomes the engine (exec)
    shell = 'read _; exec "$0" "$@"'
    proc = subprocess.Popen(["sh", "-c", shell, *command], env=full, stdin=gate_r, start_new_session=True)
    os.close(gate_r)
    try:
        if cgroup is not None:
            cgroup.mkdir(parents=True, exist_ok=True)
            (cgroup / "cgroup.procs").write_text(str(proc.pid))
        os.write(gate_w, b"go\n")
        os.close(gate_w)
        want = set(_labels(spec))
        deadline = time.monotonic() + 20
        while {p.name for p in pids_dir.iterdir() if not p.name.endswith(".tmp")} != want:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"fake engine did not start: {sorted(p.name for p in pids_dir.iterdir())}")
            time.sleep(0.02)
        yield Tree(proc, {p.name: int(p.read_text()) for p in pids_dir.iterdir() if not p.name.endswith(".tmp")})
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


CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "deployments" / "real"


def corpus_launch(name: str, env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The engine process's argv and environment of the first launch in a real corpus file
    (fixtures/deployments/real/NAME), read with tpdoctor's own shell reader: what `ps` would show for it on
    the node (a `docker run … IMAGE cmd` runs `cmd` inside the container)."""
    from tpdoctor.manifests import script, shell, words
    from tpdoctor.manifests.words import OffsetLocator

    text = (CORPUS / name).read_text(encoding="utf-8")
    loc = OffsetLocator(text, name)
    found = script.walk(text, dict(env or {}), loc)[0]
    entry = found.launch.entry.origin
    for cmd in shell.commands(text):
        assigned, k = words.assignments(cmd, found.env)
        toks = words.tokens(cmd[k:], {**found.env, **{a: v for a, v in assigned.items() if v}}, loc)
        at = [i for i, t in enumerate(toks) if t.origin == entry]
        if at:
            return [t.text for t in toks[at[0]:]], dict(found.env)
    raise ValueError(f"{name}: no launch found")
