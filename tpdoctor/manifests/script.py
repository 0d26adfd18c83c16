"""A shell script read top to bottom as the shell would: variables set, then each command's engine launch.

`NAME=value` and `export NAME=value` lines set variables for what follows; `NAME=value cmd` sets them for
that command only; `sh -c "…"` strings are read as scripts of their own (with the same variables); a
`#SBATCH --gres=gpu:N` directive is the job's GPU request. Returns every engine launch found, each with the
variables it saw, so a reader can resolve what the engine reads from its environment (TGI's NUM_SHARD,
CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tpdoctor.manifests import launch as launcher
from tpdoctor.manifests import shell, words
from tpdoctor.manifests.launch import Launch
from tpdoctor.manifests.words import Locator, SearchLocator
from tpdoctor.model.deployment import Origin

_EXPORTS = {"export", "declare", "typeset", "local", "readonly"}
_SBATCH = re.compile(r"^#SBATCH\s+(--gres|--gpus|--gpus-per-node|-G|--nodes|-N|--ntasks-per-node)[= ](\S+)",
                     re.MULTILINE)
MAX_DEPTH = 4  # sh -c inside sh -c …
_COUNT = re.compile(r"(?:^|:)(\d{1,4})$")


def sbatch(text: str) -> tuple[str | None, dict[str, str]]:
    """`#SBATCH` directives -> (the GPU request, the SLURM_* variables Slurm sets in the job): SLURM_NNODES /
    SLURM_JOB_NUM_NODES from --nodes, SLURM_GPUS_ON_NODE (and SLURM_GPUS_PER_NODE with --gpus-per-node) from
    --gres=gpu:N / --gpus-per-node / --gpus on one node, SLURM_NTASKS_PER_NODE (Slurm's sbatch and srun man pages,
    OUTPUT ENVIRONMENT VARIABLES)."""
    found = {opt: val for opt, val in _SBATCH.findall(text)}
    gpus = next((found[o] for o in ("--gres", "--gpus-per-node", "--gpus", "-G") if o in found), None)
    out: dict[str, str] = {}
    nodes = found.get("--nodes") or found.get("-N")
    if nodes and nodes.isdigit():
        out["SLURM_NNODES"] = out["SLURM_JOB_NUM_NODES"] = nodes
    per = next((m.group(1) for o in ("--gpus-per-node", "--gres") if o in found
                for m in [_COUNT.search(found[o].split(",")[0])] if m), None)
    if per is None and ("--gpus" in found or "-G" in found) and (nodes in (None, "1")):
        m = _COUNT.search(found.get("--gpus") or found.get("-G") or "")
        per = m.group(1) if m else None
    if per is not None:
        out["SLURM_GPUS_ON_NODE"] = per
        if "--gpus-per-node" in found:
            out["SLURM_GPUS_PER_NODE"] = per
    if found.get("--ntasks-per-node", "").isdigit():
        out["SLURM_NTASKS_PER_NODE"] = found["--ntasks-per-node"]
    return gpus, out


@dataclass
class Found:
    launch: Launch
    env: dict[str, str]  # the variables the command saw (exported or not: the file does not say which)
    env_origins: dict[str, Origin] = field(default_factory=dict)
    env_unresolved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sbatch_gpus: str | None = None
    ray_gpus: tuple[int, ...] = ()  # GPUs of each node of a Ray cluster this file starts (head first)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # shell variable -> the unset names it needs
    # (the script, its place among the script's launches, the script waits for it to exit before going on)
    step: tuple[str, int, bool] | None = None


def walk(text: str, env: Mapping[str, str], loc: Locator, *, env_origins: Mapping[str, Origin] | None = None,
         image: str | None = None, hints: str = "", depth: int = 0) -> list[Found]:
    """Every engine launch in `text` (see the module docstring)."""
    gpus_directive, slurm_env = sbatch(text)
    known = {**slurm_env, **env}
    origins = dict(env_origins or {})
    unresolved: dict[str, tuple[str, ...]] = {}
    out: list[Found] = []
    ray: list[int | None] = []
    script_id = f"{loc.source}:{getattr(loc, 'start_line', 0)}:{getattr(loc, 'col', 0)}"
    for cmd in shell.commands(text):
        first = cmd[0].raw
        if first in _EXPORTS:
            _set(cmd[1:], known, origins, unresolved, loc)
            continue
        assigned, k = words.assignments(cmd, known)
        if k == len(cmd):
            _set(cmd, known, origins, unresolved, loc)
            continue
        inline = {**known, **{a: v for a, v in assigned.items() if v is not None}}
        for a, v in assigned.items():
            if v is None:
                inline.pop(a, None)
        toks = words.tokens(cmd[k:], inline, loc)
        started = ray_start(toks, inline)
        if started is not False:
            ray.append(started if isinstance(started, int) else None)
            continue
        found = launcher.find(toks, image=image, hints=hints)
        if found is None:
            continue
        inline_origins = {**origins, **{f"env.{w.raw.split('=', 1)[0]}": loc.origin(w.raw, w.start)
                                        for w in cmd[:k]}}
        if found.role == "script" and found.script is not None:
            if depth < MAX_DEPTH:
                sub = _sub_locator(found.script, loc)
                out += walk(found.script.text, {**inline, **found.env}, sub, env_origins=inline_origins,
                            image=image, hints=hints, depth=depth + 1)
            continue
        un = {**unresolved, **{a: (a,) for a, v in assigned.items() if v is None}, **found.env_unresolved}
        seen, seen_origins = {**inline, **found.env}, {**inline_origins, **found.env_origins}
        if found.container:  # the host's variables stay on the host; `-e NAME` brings one in
            seen = {**{n: inline[n] for n in found.passthrough if n in inline}, **found.env}
            seen_origins = {**{f"env.{n}": inline_origins[f"env.{n}"] for n in found.passthrough
                               if f"env.{n}" in inline_origins}, **found.env_origins}
            un = {n: v for n, v in found.env_unresolved.items() if n not in seen}
        out.append(Found(found, seen, seen_origins, un, gpus_directive,
                         chains={**unresolved, **{a: (a,) for a, v in assigned.items() if v is None}},
                         step=(script_id, len(out), not (cmd.background or found.detached))))
    if len(ray) > 1 and all(n is not None for n in ray):
        for f in out:
            f.ray_gpus = tuple(n for n in ray if n is not None)
    elif len(ray) > 1:
        for f in out:
            f.ray_gpus = (0,) * len(ray)  # a Ray cluster of len(ray) nodes, GPUs not said
    return out


def ray_start(toks: list[words.Token], env: Mapping[str, str]) -> int | bool | None:
    """`ray start …` (or vLLM's `run_cluster.sh … --head|--worker`): the node's GPUs (`--num-gpus`, else its
    CUDA_VISIBLE_DEVICES), None when not said; False when the command does not start a Ray node."""
    texts = [t.text for t in toks]
    base = [t.rsplit("/", 1)[-1] for t in texts]
    if "run_cluster.sh" in base and ("--head" in texts or "--worker" in texts):
        return None
    if "ray" not in base or base.index("ray") + 1 >= len(base) or base[base.index("ray") + 1] != "start":
        return False
    for i, t in enumerate(texts):
        name, eq, value = t.partition("=")
        if name == "--num-gpus":
            value = value if eq else (texts[i + 1] if i + 1 < len(texts) else "")
            return int(value) if value.isdigit() else None
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    return len([x for x in cvd.split(",") if x.strip()]) if cvd else None


def _set(cmd: list[shell.RawWord], known: dict[str, str], origins: dict[str, Origin],
         unresolved: dict[str, tuple[str, ...]], loc: Locator) -> None:
    for w in cmd:
        a = shell.assignment(w.raw)
        if a is None:
            continue
        e = shell.expand(a[1], known)
        if e.unresolved:
            known.pop(a[0], None)
            unresolved[a[0]] = e.unresolved
        else:
            known[a[0]] = e.value
            unresolved.pop(a[0], None)
        o = loc.origin(w.raw, w.start)
        origins[f"env.{a[0]}"] = Origin(o.file, o.line, o.col, None if e.via_variable else o.text,
                                        "ref" if e.via_variable else "flag")


def _sub_locator(tok: words.Token, loc: Locator) -> Locator:
    """Words of a `sh -c` string are found in the file from the string's own place."""
    return SearchLocator(loc.lines, tok.origin.file, tok.origin.line, tok.origin.col)
