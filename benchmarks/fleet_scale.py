"""Fleet merge at scale: N generated 8-GPU nodes with scattered faults, `fleet` load + view wall time.

Each node's report also holds a multi-node benchmark with its neighbour (node pair, 3 sizes, as `tpdoctor
bench --nnodes 2` writes it), so the inter-node (NET) paths are part of the cost.

Run: python benchmarks/fleet_scale.py [500 1000 2000]
Prints seconds per size and the per-node cost ratio between sizes (linear growth keeps it near 1.0).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet.factory import cross_node_results, node  # noqa: E402
from tpdoctor.fleet.load import load_fleet  # noqa: E402
from tpdoctor.fleet.view import build_view  # noqa: E402
from tpdoctor.model import contract as report_json  # noqa: E402
from tpdoctor.model.findings import Report  # noqa: E402

SIZES = (1 << 20, 64 << 20, 1 << 30)


def _with_pair(report: Report, a: str, b: str) -> Report:
    return replace(report, bench=cross_node_results((a, b), ranks_per_node=8, sizes=SIZES))


def generate(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    healthy = report_json.render(_with_pair(node("template"), "template", "partner"))
    for i in range(n):
        host = f"gpu-node-{i:05d}"
        partner = f"gpu-node-{i ^ 1:05d}"
        a, b = sorted((host, partner))
        if rng.random() < 0.05:  # 5% of nodes have a GPU off the NVSwitch fabric
            text = report_json.render(_with_pair(node(host, off_switch=(rng.randrange(8),)), a, b))
        else:
            text = healthy.replace("template", host).replace("partner", partner)
            if host != a:  # the pair's hosts are in rank order: node 0 of the job first
                text = text.replace(f'"{host}",\n        "{partner}"', f'"{a}",\n        "{b}"')
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
              f"{len(view.bad_links)} bad links, {len(view.inter_node)} inter-node paths, "
              f"status {view.status.value})")
    base = sizes[0]
    for n in sizes[1:]:
        print(f"per-node cost {n} vs {base}: {per_node[n] / per_node[base]:.2f}x (1.00 = linear)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [500, 1000, 2000])
