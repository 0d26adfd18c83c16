"""Multi-node NVLink placement at scale: N GB200 NVL72 trays (N/18 racks, each its own NVLink domain), built
from the two-rack fixture (fixtures/fleet/nvl72/rack-a, renamed per rack), and N/2 TP=8 jobs over two trays
each: every job must land inside one domain (judged NVLink), the fleet full at the end.

Run: python benchmarks/nvl72_fleet_scale.py [--repeat=3] [500 2000]
Prints the best of --repeat in-process runs of load_fleet + check_fleet (CPU seconds of this process; the
report reader's worker processes are not counted), and the per-job cost ratio between sizes (1.00 = linear).
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tpdoctor.deploy.check import read_manifests  # noqa: E402
from tpdoctor.fleet.cluster import check_fleet  # noqa: E402
from tpdoctor.fleet.load import load_fleet  # noqa: E402
from tpdoctor.report.catalogue import load_catalogue  # noqa: E402

RACK = ROOT / "fixtures" / "fleet" / "nvl72" / "rack-a"
CLUSTER = "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4"


def generate(folder: Path, n: int) -> Path:
    base = [p.read_text() for p in sorted(RACK.glob("a-*.json"))]
    for k in range(n):
        rack, tray = divmod(k, len(base))
        host = f"r{rack:03d}-t{tray + 1:02d}"
        text = base[tray].replace(f'"a-{tray + 1:02d}"', f'"{host}"').replace(CLUSTER, str(uuid.UUID(int=rack + 1)))
        (folder / f"{host}.json").write_text(text.replace('"GPU-', f'"GPU-{rack:03d}'))
    jobs = folder.parent / "jobs.yaml"
    jobs.write_text("deployments:\n" + "".join(
        f"  - {{name: j{k:05d}, engine: vllm, model: llama-3.1-405b, dtype: fp8, tp: 8, nodes: 2, gpu_count: 4}}\n"
        for k in range(n // 2)))
    return jobs


def run(folder: Path, jobs: Path, rules: list) -> float:  # type: ignore[type-arg]
    t0 = time.process_time()
    result = check_fleet(read_manifests([jobs]), load_fleet([folder]), rules)
    spent = time.process_time() - t0
    inside = sum(1 for f in result.facts if f["in_nvlink_domain"] is True)
    assert inside == len(result.facts), f"{len(result.facts) - inside} jobs not inside one NVLink domain"
    return spent


def main(sizes: list[int], repeat: int) -> None:
    rules = load_catalogue()
    per_job: dict[int, float] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "reports"
            folder.mkdir()
            jobs = generate(folder, n)
            best = min(run(folder, jobs, rules) for _ in range(repeat))
            per_job[n] = best / (n // 2)
            print(f"{n:5d} trays ({n // 18} racks), {n // 2} TP=8 two-tray jobs: {best:.2f} s cpu (best of "
                  f"{repeat}), {per_job[n] * 1e3:.2f} ms per job, every job inside one NVLink domain")
    for n in sizes[1:]:
        print(f"per-job cost {n} vs {sizes[0]}: {per_job[n] / per_job[sizes[0]]:.2f}x (1.00 = linear)")


if __name__ == "__main__":
    args = sys.argv[1:]
    rep = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--repeat=")), 3)
    main([int(a) for a in args if not a.startswith("--")] or [500, 2000], rep)
