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
_SBATCH = re.compile(r"^#SBATCH\s+(--gres|--gpus|--gpus-per-node|-G)[= ](\S+)", re.MULTILINE)
MAX_DEPTH = 4  # sh -c inside sh -c …


@dataclass
class Found:
    launch: Launch
    env: dict[str, str]  # the variables the command saw (exported or not: the file does not say which)
    env_origins: dict[str, Origin] = field(default_factory=dict)
    env_unresolved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sbatch_gpus: str | None = None


def walk(text: str, env: Mapping[str, str], loc: Locator, *, env_origins: Mapping[str, Origin] | None = None,
         image: str | None = None, hints: str = "", depth: int = 0) -> list[Found]:
    """Every engine launch in `text` (see the module docstring)."""
    known = dict(env)
    origins = dict(env_origins or {})
    unresolved: dict[str, tuple[str, ...]] = {}
    sbatch = _SBATCH.search(text)
    out: list[Found] = []
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
        out.append(Found(found, {**inline, **found.env}, {**inline_origins, **found.env_origins}, un,
                         sbatch.group(2) if sbatch else None))
    return out


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
