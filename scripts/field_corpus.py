"""Score tpdoctor on the field corpus (fixtures/field/): real nvidia-smi outputs of failing nodes.

    .venv/bin/python scripts/field_corpus.py [--part dev|held-out|all] [--tpdoctor ROOT] [--json]

Each run of each case is composed into a directory the fake `nvidia-smi` (tests/fakesmi/) replays: the
context node's outputs, with the quoted text in place of (or after) the commands the case names, and exit
statuses where the case gives them. Then `tpdoctor health --probe smi --json` runs on it (after writing the
node's baseline from its context, where the run names one), and the verdict and findings are scored against
the reading the case expects. `--tpdoctor ROOT` runs another checkout's code (e.g. `main`, for the "before"
column), with the same fake nvidia-smi and the same cases. The development / held-out split is computed
from each case's `family` (fixtures/field/SPLIT.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIELD = ROOT / "fixtures" / "field"
CONTEXTS = FIELD / "contexts"
FAKESMI = ROOT / "tests" / "fakesmi"
FILES = ("topo-m.txt", "query-gpu.csv", "mig.csv", "nvlink-status.txt", "nvlink-errors.txt", "nvlink-caps.txt",
         "topo-p2p-r.txt", "topo-p2p-w.txt", "topo-p2p-n.txt", "query.txt")
_SECTION = re.compile(r"^GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
_BLOCK = re.compile(r"^GPU (\d+):")


def held_out(family: str) -> bool:
    """The split rule of SPLIT.md: a third of the source families, by hash, never by choice."""
    return int(hashlib.sha256(family.encode()).hexdigest()[:8], 16) % 3 == 0


@dataclass(frozen=True)
class Run:
    case: Path
    name: str
    spec: dict[str, Any]  # the case.yaml
    run: dict[str, Any]  # this run's entry of `runs`

    @property
    def ident(self) -> str:
        return f"{self.case.relative_to(FIELD)}:{self.name}"

    @property
    def part(self) -> str:
        return "held-out" if held_out(self.spec["family"]) else "dev"


def runs(part: str = "all") -> list[Run]:
    out = []
    for case in sorted(FIELD.glob("*/*/case.yaml")):
        spec = yaml.safe_load(case.read_text(encoding="utf-8"))
        for run in spec["runs"]:
            r = Run(case.parent, run["name"], spec, run)
            if part in ("all", r.part):
                out.append(r)
    return out


# ---- composing a node ------------------------------------------------------------------------------------

def _sections(text: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """`nvidia-smi -q`: (header lines, bus id -> section lines, order of bus ids)."""
    head: list[str] = []
    secs: dict[str, list[str]] = {}
    order: list[str] = []
    cur: list[str] | None = None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            bus = m.group(1).upper()[-12:]
            cur = secs.setdefault(bus, [])
            order.append(bus)
        if cur is None:
            head.append(line)
        else:
            cur.append(line)
    return head, secs, order


def merge_sections(context: str, quote: str) -> str:
    """The context's `-q` with each GPU section of the quote in place of the context's section of that bus id
    (the quote's header wins: it is the driver that printed the sections)."""
    chead, csecs, order = _sections(context)
    qhead, qsecs, _ = _sections(quote)
    body = [line for bus in order for line in (qsecs.get(bus) or csecs[bus])]
    missing = set(qsecs) - set(csecs)
    if missing:
        raise ValueError(f"quote has GPU sections the context lacks: {sorted(missing)}")
    return "\n".join((qhead if any(h.strip() for h in qhead) else chead) + body) + "\n"


def _blocks(text: str) -> tuple[list[str], dict[int, list[str]]]:
    head: list[str] = []
    blocks: dict[int, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines():
        m = _BLOCK.match(line.strip())
        if m:
            cur = blocks.setdefault(int(m.group(1)), [])
        if cur is None:
            head.append(line)
        else:
            cur.append(line)
    return head, blocks


def merge_blocks(context: str, quote: str) -> str:
    """The context's `nvlink --status` with each GPU block of the quote in place of the context's block of that
    index (lines before the quote's first block, a prompt or an elision, go first)."""
    _, cblocks = _blocks(context)
    qhead, qblocks = _blocks(quote)
    body = [line for i in sorted(cblocks) for line in (qblocks.get(i) or cblocks[i])]
    return "\n".join(qhead + body) + "\n"


def compose(run: Run, into: Path) -> dict[str, str]:
    """Write the run's fake nvidia-smi directory; return the environment the check runs with."""
    into.mkdir(parents=True, exist_ok=True)
    comp = run.spec.get("compose") or {}
    ctx = comp.get("context")
    texts: dict[str, str] = {}
    if ctx:
        for f in (CONTEXTS / ctx).iterdir():
            texts[f.name] = f.read_text(encoding="utf-8")
    rcs: dict[str, int] = {}
    if "all" in comp:
        quote = (run.case / comp["all"]["from"]).read_text(encoding="utf-8")
        for name in FILES:
            texts[name], rcs[name] = quote, int(comp["all"].get("rc", 0))
    for name, how in (comp.get("files") or {}).items():
        if "from" in how:
            texts[name] = (run.case / how["from"]).read_text(encoding="utf-8")
        elif "append" in how:
            texts[name] = texts.get(name, "") + (run.case / how["append"]).read_text(encoding="utf-8")
        elif "sections" in how:
            texts[name] = merge_sections(texts[name], (run.case / how["sections"]).read_text(encoding="utf-8"))
        elif "blocks" in how:
            texts[name] = merge_blocks(texts[name], (run.case / how["blocks"]).read_text(encoding="utf-8"))
        if "rc" in how:
            rcs[name] = int(how["rc"])
    texts.setdefault("host.txt", f"{run.case.name}\n")
    for name, text in texts.items():
        (into / name).write_text(text, encoding="utf-8")
    for name, rc in rcs.items():
        (into / f"{name}.rc").write_text(f"{rc}\n", encoding="utf-8")
    return {str(k): str(v) for k, v in (comp.get("env") or {}).items()}


# ---- running tpdoctor ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    exit_code: int
    report: dict[str, Any] | None
    lines: str  # what health printed besides the JSON (the Nagios line, NOT CHECKED lines, findings, errors)


Tpdoctor = Callable[[list[str], Mapping[str, str]], tuple[int, str, str]]


def subprocess_tpdoctor(root: Path, python: str = sys.executable) -> Tpdoctor:
    """`python -m tpdoctor ARGS` with the checkout at `root` first on the path."""
    def call(args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_", "NVIDIA_",
                                                                          "CUDA_VISIBLE"))}
        full.update(env)
        full["PYTHONPATH"] = str(root)
        proc = subprocess.run([python, "-m", "tpdoctor", *args], env=full, capture_output=True, text=True,
                              timeout=120, cwd=str(root), check=False)
        return proc.returncode, proc.stdout, proc.stderr
    return call


def check(run: Run, tpdoctor: Tpdoctor, work: Path) -> Outcome:
    node = work / "node"
    env = compose(run, node)
    base_env = {"PATH": f"{FAKESMI}{os.pathsep}/usr/bin{os.pathsep}/bin", "TPDOCTOR_PROBE_TIMEOUT": "20"}
    args = ["health", "--probe", "smi", "--json"]
    if run.run.get("baseline"):
        ctx = work / "baseline-node"
        compose(Run(run.case, "baseline", {"family": run.spec["family"],
                                             "compose": {"context": run.run["baseline"]}}, {}), ctx)
        baseline = work / "baseline.json"
        _, _, err = tpdoctor(["health", "--probe", "smi", "--json", "--baseline", str(baseline),
                              "--accept-baseline"], {**base_env, "FAKESMI_DIR": str(ctx)})
        if not baseline.exists():  # the context itself could not be recorded: the run would judge no baseline
            return Outcome(3, None, f"harness: baseline context {run.run['baseline']!r} not accepted: "
                                    f"{err.strip().splitlines()[0] if err.strip() else 'no output'}")
        args += ["--baseline", str(baseline)]
    code, out, err = tpdoctor(args, {**base_env, "FAKESMI_DIR": str(node), **env})
    report = None
    if out.strip().startswith("{"):
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            report = None
    return Outcome(code, report, err if report is not None else out + err)


# ---- scoring ---------------------------------------------------------------------------------------------

STATUS = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}


@dataclass
class Score:
    run: Run
    status: str
    verdict_ok: bool
    findings_ok: bool
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict_ok and self.findings_ok


def _active(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [f for f in report.get("findings", []) if not f.get("suppressed")]


def score(run: Run, out: Outcome) -> Score:
    expect = run.run["expect"]
    status = (out.report or {}).get("status") or STATUS.get(out.exit_code, "unknown")
    findings = _active(out.report)
    text = out.lines + "\n" + "\n".join(f"{f.get('message', '')} {f.get('recommendation', '')}" for f in findings)
    s = Score(run, status, status == expect["status"], True, summary=out.lines.strip().splitlines()[0][:160]
              if out.lines.strip() else "")
    if not s.verdict_ok:
        s.problems.append(f"status {status}, expected {expect['status']}")
    for want in expect.get("findings", []):
        hit = [f for f in findings if f["rule"] == want["rule"]
               and ("subject" not in want or f.get("subject") == want["subject"])]
        if not hit:
            s.findings_ok = False
            s.problems.append(f"no {want['rule']}" + (f" on {want['subject']}" if "subject" in want else ""))
    for rule in expect.get("no_rules", []):
        if any(f["rule"] == rule for f in findings):
            s.findings_ok = False
            s.problems.append(f"{rule} fired")
    for phrase in expect.get("says", []):
        if phrase.lower() not in text.lower():
            s.findings_ok = False
            s.problems.append(f"does not say {phrase!r}")
    for phrase in expect.get("not_says", []):
        if phrase.lower() in text.lower():
            s.findings_ok = False
            s.problems.append(f"says {phrase!r}")
    return s


def score_all(selected: list[Run], tpdoctor: Tpdoctor) -> Iterator[Score]:
    for run in selected:
        with tempfile.TemporaryDirectory(prefix="tpd-field-") as tmp:
            yield score(run, check(run, tpdoctor, Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("dev", "held-out", "all"), default="dev")
    ap.add_argument("--tpdoctor", type=Path, default=ROOT, help="the checkout whose code to score")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    scores = list(score_all(runs(args.part), subprocess_tpdoctor(args.tpdoctor.resolve())))
    if args.json:
        print(json.dumps([{"run": s.run.ident, "part": s.run.part, "status": s.status, "verdict_ok": s.verdict_ok,
                           "findings_ok": s.findings_ok, "problems": s.problems, "summary": s.summary}
                          for s in scores], indent=1))
    else:
        for s in scores:
            mark = "PASS" if s.ok else ("VERDICT" if s.verdict_ok else "FAIL")
            print(f"{mark:7} {s.run.part:8} {s.run.ident}: {s.status}; {'; '.join(s.problems) or 'as expected'}")
            print(f"        {s.summary}")
        n = len(scores)
        print(f"\nverdict right: {sum(s.verdict_ok for s in scores)}/{n}; verdict and root cause right: "
              f"{sum(s.ok for s in scores)}/{n}")
    return 0 if all(s.ok for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
