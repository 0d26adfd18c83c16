"""Plain engine command lines (a shell script, a README snippet, a SLURM batch file): one Deployment per
engine launch, read through `script.walk` (variables, wrappers, docker run, sh -c) and `build.make`.

A `# tpdoctor: name=… latency_objective_ms=…` comment right before a command names it and sets its objective.
"""

from __future__ import annotations

import re

from tpdoctor.manifests import build, script
from tpdoctor.manifests.build import Context, Skip
from tpdoctor.manifests.words import OffsetLocator
from tpdoctor.model.deployment import Deployment
from tpdoctor.model.errors import ManifestError

_DIRECTIVE = re.compile(r"#\s*tpdoctor:\s*(.*)$")
_PS_PARAM = re.compile(r"^(\s*)(?:\[[\w.\[\]]+\]\s*)?\$(\w+)\s*=\s*(.*?)(,?)\s*$")


def powershell(text: str) -> str:
    """A PowerShell script as the shell text it means for our reading, every line the same length (origins
    stay exact): a backtick line continuation becomes a backslash, a `param(…)` default `[type]$Name = value`
    becomes `Name=value`."""
    out: list[str] = []
    in_param = False
    for line in text.split("\n"):
        line = line[:-1] + "\\" if line.endswith("`") else line
        if re.match(r"\s*param\s*\(", line, re.IGNORECASE):
            in_param, line = True, " " * len(line)
        elif in_param and line.strip() == ")":
            in_param, line = False, " " * len(line)
        elif in_param and (m := _PS_PARAM.match(line)):
            head = f"{m.group(2)}="
            pad = m.start(3) - len(head)
            line = " " * pad + head + m.group(3) + " " * (len(line) - m.end(3))
        out.append(line)
    return "\n".join(out)


def _directives(text: str) -> dict[int, dict[str, str]]:
    """line of the command a directive precedes -> its key=value pairs."""
    out: dict[int, dict[str, str]] = {}
    pending: dict[str, str] | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        m = _DIRECTIVE.search(raw)
        if m:
            pending = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
            continue
        if pending is not None and raw.strip() and not raw.strip().startswith("#"):
            out[n] = pending
            pending = None
    return out


def read(text: str, source: str) -> list[Deployment | Skip]:
    out: list[Deployment | Skip] = []
    directives = _directives(text)
    if source.lower().endswith(".ps1"):
        text = powershell(text)
    for found in script.walk(text, {}, OffsetLocator(text, source)):
        line = found.launch.entry.origin.line or 0
        first = max((ln for ln in directives if ln <= line), default=None)
        d = directives.pop(first, {}) if first is not None else {}
        objective = d.get("latency_objective_ms")
        try:
            value = float(objective) if objective else None
        except ValueError:
            raise ManifestError(f"{source}:{first}: latency_objective_ms {objective!r} is not a number") from None
        ctx = Context(source=source, kind="cmdline", name=d.get("name", ""), node=d.get("node"),
                      latency_objective_ms=value)
        out.append(build.make(found, ctx))
    return out
