"""How many NVML calls an 8-GPU scan makes, and its wall time on the fake NVML.

Run from the repository root:  python benchmarks/nvml_scan.py [--repeat 20]

The fake answers from memory, so the wall time is tpdoctor's own overhead (the probe, pynvml's ctypes
layer, the link graph) plus the fake's bookkeeping -- a floor, not a prediction for real hardware, where
the calls dominate (nvmlInit alone takes seconds without persistence mode). The call count is exact
and is what to multiply by a driver's per-call latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakenvml import load  # noqa: E402
from tpdoctor.probes.nvml import probe_nvml, read_facts  # noqa: E402

MACHINES = ("hgx-h100-nvswitch", "dgx-a100-nvswitch", "v100-hybrid-cube-mesh", "rtx4090-8x-pcie-two-sockets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'machine (8 GPUs)':32} {'NVML calls':>10} {'median ms':>10} {'min ms':>8} {'us/call':>8}  top calls")
    for name in MACHINES:
        facts = read_facts(load(name))
        times = []
        for _ in range(args.repeat):
            lib = load(name)
            start = time.perf_counter()
            probe_nvml(lib, host="bench")
            times.append((time.perf_counter() - start) * 1000)
        top = sorted(facts.calls_by_function.items(), key=lambda kv: -kv[1])[:3]
        med = statistics.median(times)
        print(f"{name:32} {facts.calls:>10} {med:>10.1f} {min(times):>8.1f} {med * 1000 / facts.calls:>8.1f}  "
              + ", ".join(f"{k.removeprefix('nvmlDevice')} {v}" for k, v in top))
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests' / 'fakenvml' / 'shim'}{os.pathsep}{ROOT}",
           "TPD_FAKE_NVML": MACHINES[0], "PATH": "/nonexistent"}
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tpdoctor", "scan", "--probe", "nvml", "--json"], cwd=ROOT,
                       env=env, capture_output=True, check=True, timeout=120)
        walls.append(time.perf_counter() - start)
    print(f"\n`tpdoctor scan --probe nvml --json` on {MACHINES[0]}, whole process (Python start-up "
          f"included): median {statistics.median(walls) * 1000:.0f} ms over 5 runs")


if __name__ == "__main__":
    main()
