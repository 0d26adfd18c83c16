"""The running TP groups, for people: one line each, and a rich table (scan's view, check-deployment
--running). Pure functions of `model.running.Running`; every text in them was redacted when it was read,
and is redacted again here (`model/redact.py`): a report replayed from a file someone edited is input too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpdoctor.model.redact import redact_args, redact_text
from tpdoctor.model.running import Running, RunningGroup
from tpdoctor.model.unknown import Unknown

if TYPE_CHECKING:
    from rich.table import Table

STATUS_STYLE = {"ok": "bold green", "warning": "bold yellow", "critical": "bold red", "unknown": "bold magenta"}


def _value(v: object, missing: str = "?") -> str:
    return missing if isinstance(v, Unknown) or v is None else str(v)


def tp_text(g: RunningGroup) -> str:
    tp = f"TP={_value(g.tp)}"
    if isinstance(g.pp, int) and g.pp > 1:
        tp += f" PP={g.pp}"
    return tp


def line(g: RunningGroup) -> str:
    """`vllm (pod default/llama-0) TP=2 on GPU0+GPU1 [Qwen/Qwen3-32B]: critical (TPD200)`."""
    model = f" [{redact_text(g.model)}]" if isinstance(g.model, str) and g.model else ""
    rules = f" ({', '.join(g.rules)})" if g.rules else ""
    return f"{redact_text(g.name)} {tp_text(g)} on {g.gpu_labels or 'no GPU'}{model}: {g.status}{rules}"


def summary(running: Running) -> str:
    """One clause for a status line: how many groups, and the first that is not ok (or the first)."""
    groups = running.groups
    if not groups:
        return "no TP group running" if not running.hidden else f"{len(running.hidden)} GPU process(es) not visible"
    bad = [g for g in groups if g.status != "ok"]
    first = bad[0] if bad else groups[0]
    more = f" (+{len(groups) - 1} more)" if len(groups) > 1 else ""
    return f"running: {line(first)}{more}"


def table(running: Running) -> Table:
    from rich import box
    from rich.table import Table

    from tpdoctor.model.safetext import markup

    t = Table(title="Running TP groups", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for col in ("group", "engine", "TP", "GPUs", "model", "runtime", "pids", "status"):
        t.add_column(col, no_wrap=col in ("TP", "GPUs", "status"))
    for g in running.groups:
        t.add_row(markup(redact_text(g.name)), markup(_value(g.engine)), tp_text(g).removeprefix("TP="), g.gpu_labels,
                  markup(redact_text(_value(g.model, "–"))), g.runtime, " ".join(str(p) for p in g.pids[:8]),
                  f"[{STATUS_STYLE.get(g.status, 'bold')}]{g.status}[/]")
    for h in running.hidden:
        t.add_row(f"pid {h.pid} (not visible)", "?", "?", "+".join(f"GPU{i}" for i in h.gpus), "–", "?",
                  str(h.pid), f"[{STATUS_STYLE['unknown']}]unknown[/]")
    return t


def detail_lines(running: Running) -> list[str]:
    """How each group was found and its launch (redacted), for the text views."""
    out = []
    for g in running.groups:
        cmd = " ".join(redact_args(g.cmdline))
        out.append(f" • {redact_text(g.name)}: {g.how}" + (f"; launch: {cmd[:300]}" if cmd else ""))
        out.extend(f"   {redact_text(n)}" for n in g.notes[:3])
    if running.table_unread:
        out.append(f" • compute processes not read: {running.table_unread}")
    return out
