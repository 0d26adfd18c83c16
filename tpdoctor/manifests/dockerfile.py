"""A Dockerfile whose CMD / ENTRYPOINT starts the engine -> Deployments.

`ARG name[=default]` and `ENV name=value` are the variables a shell-form command sees at run time (a build
argument without a default is unknown: it is fixed at `docker build`); the exec form (`["vllm", "serve", …]`)
is taken word by word; a shell-form ENTRYPOINT takes the place of CMD, an exec-form one is followed by CMD's
words.
"""

from __future__ import annotations

import json
import re

from tpdoctor.manifests import build, script, shell
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.words import OffsetLocator
from tpdoctor.model.deployment import Deployment

_INSTR = re.compile(r"^\s*(FROM|ARG|ENV|CMD|ENTRYPOINT)\s+(.*)$", re.IGNORECASE | re.DOTALL)


def is_dockerfile(text: str, source: str) -> bool:
    name = source.rsplit("/", 1)[-1].lower()
    if name.startswith("dockerfile") or name.endswith(".dockerfile"):
        return True
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    return bool(re.match(r"^\s*FROM\s+\S+", first, re.IGNORECASE)) and bool(
        re.search(r"^\s*(CMD|ENTRYPOINT)\s", text, re.IGNORECASE | re.MULTILINE))


def _logical(text: str) -> list[tuple[int, str, int]]:
    """(offset of the instruction, its text with continuations joined, offset of its arguments)."""
    out: list[tuple[int, str, int]] = []
    pos = 0
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = pos
        body = lines[i]
        pos += len(lines[i]) + 1
        while body.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            body = body + "\n" + lines[i]
            pos += len(lines[i]) + 1
        out.append((start, body, start))
        i += 1
    return out


def read(text: str, source: str) -> list[Deployment | Skip]:
    env: dict[str, str] = {}
    cmd: tuple[int, str] | None = None
    entry: tuple[int, str] | None = None
    for start, body, _ in _logical(text):
        m = _INSTR.match(body)
        if not m:
            continue
        instr, rest = m.group(1).upper(), m.group(2)
        offset = start + m.start(2)
        if instr == "FROM":
            env = {}
        elif instr in ("ARG", "ENV"):
            _assign(instr, rest, env)
        elif instr == "CMD":
            cmd = (offset, rest)
        else:
            entry = (offset, rest)
    image = next((m.group(2).split()[0] for _, b, _ in _logical(text) if (m := _INSTR.match(b))
                  and m.group(1).upper() == "FROM"), "")
    line_text = _command(text, entry, cmd)
    if line_text is None:
        return []
    padded = " " * line_text[0] + line_text[1]  # offsets into the file stay right for the locator
    found = script.walk(padded, env, OffsetLocator(text, source), image=image, hints=image)
    return [build.make(f, Context(source=source, kind="Dockerfile")) for f in found]


def _assign(instr: str, rest: str, env: dict[str, str]) -> None:
    words = [w.raw for c in shell.commands(rest) for w in c]
    if instr == "ENV" and len(words) >= 2 and "=" not in words[0]:
        words = [f"{words[0]}={' '.join(words[1:])}"]
    for w in words:
        name, eq, value = w.partition("=")
        if not eq:
            env.pop(name, None)  # ARG without a default: fixed at build time, unknown here
            continue
        e = shell.expand(value, env)
        if e.unresolved:
            env.pop(name, None)
        else:
            env[name] = e.value


def _exec_form(rest: str) -> list[str] | None:
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return [str(x) for x in value] if isinstance(value, list) else None


def _command(text: str, entry: tuple[int, str] | None, cmd: tuple[int, str] | None) -> tuple[int, str] | None:
    """(offset, shell text) of what the container runs."""
    if entry is not None:
        words = _exec_form(entry[1])
        if words is None:
            return entry
        tail = _exec_form(cmd[1]) if cmd is not None else None
        joined = " ".join(shell_quote(w) for w in words + (tail or []))
        return entry[0], joined
    if cmd is not None:
        words = _exec_form(cmd[1])
        return cmd if words is None else (cmd[0], " ".join(shell_quote(w) for w in words))
    return None


def shell_quote(word: str) -> str:
    return word if re.fullmatch(r"[A-Za-z0-9_./:=,@%+-]+", word) else "'" + word.replace("'", "'\\''") + "'"
