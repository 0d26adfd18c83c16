"""Startup cost of `tpdoctor scan --from <8-GPU fixture> --json` against `python -c pass`, as a ratio.

Also checks that the scan imports neither torch nor anything else slow. Run from the repository root:

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
SLOW = ("torch", "numpy", "pandas", "scipy", "pynvml", "celpy", "prometheus_client", "hypothesis")
PROBE = (
    "import sys\n"
    "from tpdoctor.cli import main\n"
    "main(['scan', '--from', sys.argv[1], '--json'])\n"
    f"print('SLOW=' + ','.join(m for m in {SLOW!r} if m in sys.modules), file=sys.stderr)\n"
)


def wall(argv: list[str], runs: int) -> float:
    """Median wall time of `runs` runs (after one warm-up), in seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    scan = [sys.executable, "-m", "tpdoctor", "scan", "--from", str(FIXTURE), "--json"]
    baseline = wall([sys.executable, "-c", "pass"], args.runs)
    scanned = wall(scan, args.runs)
    check = subprocess.run([sys.executable, "-c", PROBE, str(FIXTURE)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                           capture_output=True, text=True, timeout=60, check=False)
    slow = next((ln[5:] for ln in check.stderr.splitlines() if ln.startswith("SLOW=")), "?")
    print(f"python -c pass             : {baseline * 1000:7.1f} ms (median of {args.runs})")
    print(f"tpdoctor scan --from 8-GPU : {scanned * 1000:7.1f} ms (median of {args.runs})")
    print(f"ratio                      : {scanned / baseline:7.1f}x")
    print(f"slow modules imported      : {slow or 'none'}")
    return 0 if slow == "" else 1


if __name__ == "__main__":
    sys.exit(main())
