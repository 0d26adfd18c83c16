"""Every fixture through every command that prints a machine-readable answer, saved for comparison.

A refactoring promises "no behaviour change": run this on the old tree and on the new one and compare.

    python scripts/contract_outputs.py write OUT_DIR      # one file per case: exit code, stdout, stderr
    python scripts/contract_outputs.py compare OLD NEW    # lists every case that differs; exit 1 if any

Each case runs `python -m tpdoctor …` in a subprocess from this checkout (the fake nvidia-smi on PATH,
the fake NVML through its shim), so the old and the new tree are judged by what a user sees. Volatile
values (this checkout's path, live capture times and durations) are masked before saving.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
MASKS = (
    (re.compile(r'"(captured_at|probe_duration_seconds|duration_seconds)": [^,\n}]+'), r'"\1": "<masked>"'),
    (re.compile(r"tpdoctor_(probe_duration_seconds|last_run_timestamp_seconds)(\{[^}]*\})? \S+"), r"tpdoctor_\1\2 <m>"),
    (re.compile(r"probe_seconds=[0-9.]+s"), "probe_seconds=<m>s"),
)


def cases() -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv after `tpdoctor`, extra environment) for every case."""
    out: list[tuple[str, list[str], dict[str, str]]] = []
    captures = sorted(FIX.glob("smi/topo-m/*.txt")) + sorted(FIX.glob("topologies/*.json")) + [EXAMPLE]
    captures += sorted((FIX / "fleet" / "reports").glob("*.json"))
    for cap in captures:
        rel = cap.relative_to(ROOT)
        out.append((f"scan {rel}", ["scan", "--from", str(cap), "--json"], {}))
    for cap in sorted(FIX.glob("topologies/*.json")) + [EXAMPLE] + sorted(FIX.glob("smi/topo-m/00*.txt")):
        rel = cap.relative_to(ROOT)
        out.append((f"health {rel}", ["health", "--from", str(cap), "--json"], {}))
        out.append((f"health-nagios {rel}", ["health", "--from", str(cap)], {}))
    shim = ROOT / "tests" / "fakenvml" / "shim"
    for machine in sorted(FIX.glob("nvml/*.yaml")):
        env = {"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}", "TPD_FAKE_NVML": machine.stem}
        out.append((f"scan-nvml {machine.stem}", ["scan", "--probe", "nvml", "--json"], env))
    topologies = [EXAMPLE, *sorted(FIX.glob("topologies/*.json"))]
    for manifest in sorted((FIX / "deployments").iterdir()):
        if manifest.is_file():
            for topo in topologies:
                name = f"check {manifest.name} on {topo.name}"
                out.append((name, ["check-deployment", str(manifest), "--topology", str(topo), "--json"], {}))
            out.append((f"check-text {manifest.name}",
                        ["check-deployment", str(manifest), "--topology", str(EXAMPLE), "--explain"], {}))
            out.append((f"check-sarif {manifest.name}",
                        ["check-deployment", str(manifest), "--topology", str(EXAMPLE), "--format", "sarif"], {}))
    fleet_jobs = sorted(p for p in (FIX / "fleet").glob("*.yaml"))
    reports = FIX / "fleet" / "reports"
    out.append(("fleet", ["fleet", str(reports), "--json"], {}))
    out.append(("fleet-text", ["fleet", str(reports)], {}))
    for job in fleet_jobs:
        out.append((f"check-fleet {job.name}", ["check-deployment", str(job), "--fleet", str(reports), "--json"], {}))
    for model, gpu, tp, extra in (("qwen35-27b", "h100-nvl", "2", ["--dtype", "fp8", "--path", "NODE"]),
                                  ("llama-3.1-70b", "h100-sxm", "4", []),
                                  ("llama-3.1-8b", "a100-sxm-80gb", "8", ["--batch", "8"]),
                                  ("mixtral-8x7b", "rtx-4090", "2", ["--path", "SYS"])):
        argv = ["predict", model, "--gpu", gpu, "--tp", tp, *extra]
        out.append((f"predict {model} {gpu} tp{tp}", [*argv, "--json"], {}))
        out.append((f"predict-text {model}", [*argv, "--explain"], {}))
    out.append(("rules", ["rules", "--json"], {}))
    out.append(("explain", ["explain", "TPD200"], {}))
    out.append(("demo", ["demo", "--json"], {}))
    return out


def run_case(argv: list[str], extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_", "TPD_"))}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "100",
                "PATH": f"{ROOT / 'tests' / 'fakesmi'}{os.pathsep}/usr/bin{os.pathsep}/bin"})
    env.update(extra)
    proc = subprocess.run([sys.executable, "-m", "tpdoctor", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    text = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    text = text.replace(str(ROOT), "<ROOT>")
    for pattern, repl in MASKS:
        text = pattern.sub(repl, text)
    return text


def write(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = cases()
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {pool.submit(run_case, argv, env): name for name, argv, env in todo}
        for fut in concurrent.futures.as_completed(futures):
            name = futures[fut]
            key = hashlib.sha1(name.encode()).hexdigest()[:12]
            (out_dir / f"{key}.txt").write_text(f"case {name}\n{fut.result()}", encoding="utf-8")
    print(f"{len(todo)} cases written to {out_dir}")
    return 0


def compare(old: Path, new: Path) -> int:
    names = sorted({p.name for p in old.glob("*.txt")} | {p.name for p in new.glob("*.txt")})
    differ = 0
    for n in names:
        a, b = old / n, new / n
        ta = a.read_text(encoding="utf-8") if a.exists() else "(missing)"
        tb = b.read_text(encoding="utf-8") if b.exists() else "(missing)"
        if ta != tb:
            differ += 1
            print(f"DIFFERS: {(ta if a.exists() else tb).splitlines()[0]}")
    print(f"{len(names)} cases, {differ} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = parser.parse_args()
    return write(args.out) if args.cmd == "write" else compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
