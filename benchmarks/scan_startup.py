"""Startup cost of `tpdoctor scan --from <8-GPU fixture> --json` and of `tpdoctor check-deployment` (the
canonical job on the bundled example) against `python -c pass`, as ratios.

Also checks that neither imports torch nor anything else slow. Run from the repository root:

    python benchmarks/scan_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "smi" / "topo-m" / "004-aws-p5-h100x8-nv18.txt"
JOB = ROOT / "fixtures" / "deployments" / "canonical-job.yaml"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
SLOW = ("torch", "numpy", "pandas", "scipy", "pynvml", "celpy", "prometheus_client", "hypothesis")
PROBE = (
    "import sys\n"
    "from tpdoctor.cli import main\n"
    "main(sys.argv[1:])\n"
    f"print('SLOW=' + ','.join(m for m in {SLOW!r} if m in sys.modules), file=sys.stderr)\n"
)


def env() -> dict[str, str]:
    """As a user runs it: byte-code caches written (pip compiles them at install), this checkout first."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**out, "PYTHONPATH": str(ROOT)}


def wall(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `runs` runs, after one warm-up that also writes
    the byte-code caches, in seconds. CPU time is the steadier figure where a CPU quota slices wall time
    into scheduler periods (this machine: 50 ms steps)."""
    env_ = env()
    walls, cpus = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env_, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(took)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def slow_imports(args: list[str]) -> str:
    check = subprocess.run([sys.executable, "-c", PROBE, *args], env=env(),
                           capture_output=True, text=True, timeout=60, check=False)
    return next((ln[5:] for ln in check.stderr.splitlines() if ln.startswith("SLOW=")), "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    commands = {
        "scan --from 8-GPU": ["scan", "--from", str(FIXTURE), "--json"],
        "check-deployment canonical": ["check-deployment", str(JOB), "--topology", str(EXAMPLE), "--json"],
    }
    base_wall, base_cpu = wall([sys.executable, "-c", "pass"], args.runs)
    print(f"{'python -c pass':30}: wall {base_wall * 1000:6.1f} ms, cpu {base_cpu * 1000:6.1f} ms "
          f"(medians of {args.runs})")
    worst = 0
    for name, argv in commands.items():
        took, cpu = wall([sys.executable, "-m", "tpdoctor", *argv], args.runs)
        slow = slow_imports(argv)
        print(f"{'tpdoctor ' + name:30}: wall {took * 1000:6.1f} ms, cpu {cpu * 1000:6.1f} ms, "
              f"ratio wall {took / base_wall:4.1f}x cpu {cpu / base_cpu:4.1f}x, slow imports: {slow or 'none'}")
        worst = max(worst, 0 if slow == "" else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
