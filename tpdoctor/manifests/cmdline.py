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
