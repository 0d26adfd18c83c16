"""Fleet merge at scale: N generated 8-GPU nodes with scattered faults, `fleet` load + view wall time.

Run: python benchmarks/fleet_scale.py [500 1000 2000]
Prints seconds per size and the per-node cost ratio between sizes (linear growth keeps it near 1.0).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.factory import node  # noqa: E402
from tpdoctor.fleet.load import load_fleet  # noqa: E402
from tpdoctor.fleet.view import build_view  # noqa: E402
from tpdoctor.report import json as report_json  # noqa: E402


def generate(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    healthy = report_json.render(node("template"))
    for i in range(n):
        host = f"gpu-node-{i:05d}"
        if rng.random() < 0.05:  # 5% of nodes have a GPU off the NVSwitch fabric
            text = report_json.render(node(host, off_switch=(rng.randrange(8),)))
        else:
            text = healthy.replace("template", host)
        (folder / f"{host}.json").write_text(text)


def main(sizes: list[int]) -> None:
    per_node = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            generate(folder, n)
            t0 = time.perf_counter()
            view = build_view(load_fleet([folder]))
            dt = time.perf_counter() - t0
        per_node[n] = dt / n
        print(f"{n:6d} nodes: fleet load+view {dt:6.2f} s  ({dt / n * 1e3:.2f} ms/node, "
              f"{len(view.bad_links)} bad links, status {view.status.value})")
    base = sizes[0]
    for n in sizes[1:]:
        print(f"per-node cost {n} vs {base}: {per_node[n] / per_node[base]:.2f}x (1.00 = linear)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [500, 1000, 2000])
