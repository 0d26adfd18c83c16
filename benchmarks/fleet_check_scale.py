"""Cluster-wide check at scale: N generated 8-GPU nodes (5% with a GPU off the NVSwitch fabric, every node
with a measured node-pair inter-node result) and 5 deployments per node (10,000 for 2,000 nodes).

Deployments: on 80% of the nodes, five pinned to node + GPUs (TP=2 ×3, TP=1 ×2: every GPU used); on the
rest, a mix that tpdoctor must place: node-only TP=2, fleet-wide TP=1/TP=2/TP=4, and every tenth node a
multi-node job (TP=16 over 2 nodes, or TP=8 × PP=2 over 2 nodes). Models: qwen35-27b fp8, Llama 3.1 8B,
Llama 3.1 70B fp8, Llama 3.1 405B fp8.

Measured, in one process (the use-case functions the CLI calls, output rendered to memory, the cyclic
garbage collector paused as the two commands pause it):
  fleet  = load_fleet + build_view + fleet JSON       (what `tpdoctor fleet DIR --json` does)
  check  = read manifests + load_fleet + check_fleet + fleet-check JSON
                                                      (what `tpdoctor check-deployment JOBS --fleet DIR --json` does)
and the two CLI commands end to end (subprocesses, output to /dev/null) with --cli.

Run: python benchmarks/fleet_check_scale.py [--cli] [--repeat=3] [500 1000 2000]
Each figure is the best (least disturbed) of --repeat runs, with the median beside it. Each size runs in a
fresh process of its own, which also reports its peak memory (ru_maxrss) and the size of the fleet-check
JSON. `TPDOCTOR_ROOT=/path/to/checkout` measures another checkout's code with this same script (before /
after comparisons: the generator and the deployments are this file's).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("TPDOCTOR_ROOT", HERE)).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # fleet_scale (the generator) of the measured checkout

from fleet_scale import generate  # noqa: E402

from tpdoctor.deploy.check import read_manifests  # noqa: E402
from tpdoctor.fleet.cluster import check_fleet  # noqa: E402
from tpdoctor.fleet.gcpause import gc_paused  # noqa: E402
from tpdoctor.fleet.load import load_fleet  # noqa: E402
from tpdoctor.fleet.view import build_view  # noqa: E402
from tpdoctor.report.catalogue import load_catalogue  # noqa: E402
from tpdoctor.report.cluster import to_json as check_json  # noqa: E402
from tpdoctor.report.fleet_text import to_json as fleet_json  # noqa: E402

MODELS = ["model: qwen35-27b, dtype: fp8", "model: llama-3.1-8b", "model: llama-3.1-70b, dtype: fp8"]


def deployments_yaml(n_nodes: int) -> str:
    lines = ["deployments:"]

    def add(name: str, spec: str) -> None:
        lines.append(f"  - {{name: {name}, engine: vllm, {spec}, max_model_len: 8192}}")

    for i in range(n_nodes):
        host = f"gpu-node-{i:05d}"
        m = MODELS[i % 3]
        if i % 10 < 8:
            for k, gpus in enumerate(("0, 1", "2, 3", "4, 5")):
                add(f"d{i:05d}-{k}", f"{m}, tp: 2, node: {host}, gpus: [{gpus}]")
            add(f"d{i:05d}-3", f"model: llama-3.1-8b, tp: 1, node: {host}, gpus: [6]")
            add(f"d{i:05d}-4", f"model: llama-3.1-8b, tp: 1, node: {host}, gpus: [7]")
        elif i % 10 == 8 and i % 20 == 8:
            add(f"d{i:05d}-0", "model: llama-3.1-405b, dtype: fp8, tp: 16, nodes: 2, gpu_count: 8")
            add(f"d{i:05d}-1", "model: llama-3.1-405b, dtype: fp8, tp: 8, pp: 2, nodes: 2, gpu_count: 8")
            for k in range(2, 5):
                add(f"d{i:05d}-{k}", "model: llama-3.1-8b, tp: 1")
        else:
            add(f"d{i:05d}-0", f"{m}, tp: 2, node: {host}")
            add(f"d{i:05d}-1", f"{m}, tp: 2")
            add(f"d{i:05d}-2", "model: llama-3.1-70b, dtype: fp8, tp: 4")
            add(f"d{i:05d}-3", "model: llama-3.1-8b, tp: 1")
            add(f"d{i:05d}-4", "model: llama-3.1-8b, tp: 1")
    return "\n".join(lines) + "\n"


def run_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and its worker processes)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tpdoctor", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   check=False, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(values: list[float]) -> str:
    """min (median) of repeated runs: the machine is shared, the minimum is the least disturbed run."""
    ordered = sorted(values)
    return f"{ordered[0]:5.2f} s (median {ordered[len(ordered) // 2]:.2f})"


def best_cli(runs: list[tuple[float, float]]) -> str:
    wall = min(runs)
    return f"{best([w for w, _ in runs])}, cpu {wall[1]:.2f} s"


def in_process(folder: Path, jobs: Path, rules: list) -> tuple[float, float, dict, str]:  # type: ignore[type-arg]
    t0 = time.perf_counter()
    with gc_paused():  # as the CLI commands run
        fleet = load_fleet([folder])
        fleet_json(build_view(fleet))
    t_fleet = time.perf_counter() - t0
    del fleet
    t0 = time.perf_counter()
    with gc_paused():
        deps = read_manifests([jobs])
        t_manifests = time.perf_counter() - t0
        fleet = load_fleet([folder])
        t_load = time.perf_counter() - t0 - t_manifests
        result = check_fleet(deps, fleet, rules)
        t_json = time.perf_counter()
        out = check_json(result)
        t_json = time.perf_counter() - t_json
    t_check = time.perf_counter() - t0
    s = result.stats
    parts = {"manifests": t_manifests, "load": t_load, "place": s["place_seconds"],
             "assess+facts": s["assess_seconds"], "rules": s["rules_seconds"], "JSON": t_json}
    counts: dict[str, int] = {}
    for f in result.findings:
        if f.evidence.get("judged") is not False:
            counts[f.rule] = counts.get(f.rule, 0) + 1
    how: dict[str, int] = {}
    for p in result.placements:
        how[p.how] = how.get(p.how, 0) + 1
    info = (f"{len(deps)} deployments ({', '.join(f'{v} {k}' for k, v in sorted(how.items()))}), "
            f"{int(s['assess_calls'])} assessments; findings {dict(sorted(counts.items()))}; "
            f"JSON {len(out) / 1e6:.1f} MB ({len(out) / max(len(deps), 1) / 1e3:.2f} KB per deployment); "
            f"status {result.status.value}")
    return t_fleet, t_check, parts, info


def fleet_files(tmp: str, n: int) -> tuple[Path, Path]:
    """A generated fleet of `n` node reports and its job file, under `tmp`."""
    folder = Path(tmp) / "reports"
    folder.mkdir()
    generate(folder, n)
    jobs = Path(tmp) / "jobs.yaml"
    jobs.write_text(deployments_yaml(n))
    return folder, jobs


def measured(n: int, repeat: int, rules: list) -> list:  # type: ignore[type-arg]
    """`repeat` in-process runs on a generated fleet of `n` nodes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder, jobs = fleet_files(tmp, n)
        return [in_process(folder, jobs, rules) for _ in range(repeat)]


def child(n: int, repeat: int) -> None:
    """One size in this fresh process: the runs, then the peak memory of the process."""
    runs = measured(n, repeat, load_catalogue())
    totals = [c for _, c, _, _ in runs]
    k = totals.index(min(totals))
    parts = ", ".join(f"{name} {v:.2f}" for name, v in runs[k][2].items())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:5d} nodes: check-deployment --fleet in process {best(totals)} [{parts}]; "
          f"fleet view {min(f for f, _, _, _ in runs):.2f} s; peak memory {peak:.0f} MiB")
    print(f"       {runs[k][3]}")


def main(sizes: list[int], cli: bool, repeat: int) -> None:
    if not cli:
        for n in sizes:
            subprocess.run([sys.executable, __file__, f"--child={n}", f"--repeat={repeat}"], check=True)
        return
    rules = load_catalogue()
    per_node: dict[int, float] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder, jobs = fleet_files(tmp, n)
            runs = [in_process(folder, jobs, rules) for _ in range(repeat)]
            totals = [f + c for f, c, _, _ in runs]
            k = totals.index(min(totals))
            parts = ", ".join(f"{name} {v:.2f}" for name, v in runs[k][2].items())
            per_node[n] = min(totals) / n
            print(f"{n:5d} nodes: fleet + check-deployment in process {best(totals)}  "
                  f"[fleet {runs[k][0]:.2f}; check {runs[k][1]:.2f} = {parts}]")
            print(f"       {runs[k][3]}")
            if cli:
                fleet_text = [run_cli(["fleet", str(folder)]) for _ in range(repeat)]
                fleet_js = [run_cli(["fleet", str(folder), "--json"]) for _ in range(repeat)]
                check = [run_cli(["check-deployment", str(jobs), "--fleet", str(folder), "--json"])
                         for _ in range(repeat)]
                print(f"       CLI: fleet {best_cli(fleet_text)}; fleet --json {best_cli(fleet_js)}; "
                      f"check-deployment --fleet --json {best_cli(check)}")
                print(f"       CLI fleet + check-deployment = {min(fleet_text)[0] + min(check)[0]:.2f} s wall "
                      f"(best runs), {min(fleet_text)[1] + min(check)[1]:.2f} s cpu")
    base = sizes[0]
    for n in sizes[1:]:
        print(f"per-node cost (in process, best run) {n} vs {base}: {per_node[n] / per_node[base]:.2f}x "
              f"(1.00 = linear)")


if __name__ == "__main__":
    args = sys.argv[1:]
    use_cli = "--cli" in args
    rep = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--repeat=")), 3)
    one = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--child=")), None)
    if one is not None:
        child(one, rep)
        sys.exit(0)
    main([int(a) for a in args if not a.startswith("--")] or [500, 1000, 2000], use_cli, rep)
