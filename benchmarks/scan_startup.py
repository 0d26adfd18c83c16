"""Startup cost of `tpdoctor scan --from <8-GPU fixture> --json` and of `tpdoctor check-deployment` (the
canonical job on the bundled example) against `python -c pass`, as ratios.

Also checks that neither imports torch nor anything else slow. Run from the repository root:

    python benchmarks/scan_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
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


def wall(argv: list[str], runs: int) -> float:
    """Median wall time of `runs` runs (after one warm-up), in seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def slow_imports(args: list[str]) -> str:
    check = subprocess.run([sys.executable, "-c", PROBE, *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
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
    baseline = wall([sys.executable, "-c", "pass"], args.runs)
    print(f"{'python -c pass':28}: {baseline * 1000:7.1f} ms (median of {args.runs})")
    worst = 0
    for name, argv in commands.items():
        took = wall([sys.executable, "-m", "tpdoctor", *argv], args.runs)
        slow = slow_imports(argv)
        print(f"{'tpdoctor ' + name:28}: {took * 1000:7.1f} ms (median of {args.runs}), "
              f"ratio {took / baseline:5.1f}x, slow modules imported: {slow or 'none'}")
        worst = max(worst, 0 if slow == "" else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
