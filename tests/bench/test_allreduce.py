"""Real gloo all-reduces across local processes: reduced values are checked, busbw follows the formula
from the measured time, groups and GPU labels come out right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.helpers import requires_torch
from tpdoctor.bench.launch import BenchOptions
from tpdoctor.bench.plan import plan_groups, plan_node, plan_pairs
from tpdoctor.bench.procs import session_members
from tpdoctor.bench.runner import run_plan

pytestmark = requires_torch
ROOT = Path(__file__).resolve().parents[2]


def _options(sizes: tuple[int, ...]) -> BenchOptions:
    return BenchOptions(backend="gloo", sizes=sizes, iters=3, warmup=2, timeout_seconds=30.0,
                        startup_timeout_seconds=90.0)


def test_node_of_three_ranks_correct_and_busbw_is_the_formula_of_the_measured_time() -> None:
    run = run_plan(plan_node(3), [0, 1, 2], _options((8, 4096, 65536, 3)))
    assert [r.bytes for r in run.results] == [4, 8, 4096, 65536]  # 3 B rounds up to one float32
    for r in run.results:
        assert r.error is None and r.correct, r
        assert r.group == (0, 1, 2) and r.backend == "gloo" and r.iterations == 3 and r.label == "node"
        assert r.time_us > 0
        assert r.algbw_gbps == pytest.approx(r.bytes / (r.time_us * 1e-6) / 1e9, rel=1e-12)
        assert r.busbw_gbps == pytest.approx(r.algbw_gbps * 2 * (3 - 1) / 3, rel=1e-12)
    assert run.attempts == 1 and run.leftover_pids == () and session_members(run.sessions) == []


def test_groups_run_in_turn_and_carry_the_gpu_indices() -> None:
    # ranks 0..3 stand for GPUs 2, 3, 5, 7
    run = run_plan(plan_groups([(0, 1), (1, 2, 3)], 4), [2, 3, 5, 7], _options((1024,)))
    assert [(r.group, r.correct, r.concurrent_groups) for r in run.results] == \
        [((2, 3), True, 1), ((3, 5, 7), True, 1)]
    assert run.results[1].busbw_gbps == pytest.approx(run.results[1].algbw_gbps * 4 / 3)


def test_pairs_rounds_run_concurrently() -> None:
    run = run_plan(plan_pairs(4), [0, 1, 2, 3], _options((2048,)))
    got = {r.group: (r.round_index, r.concurrent_groups, r.correct) for r in run.results}
    assert got == {(0, 3): (0, 2, True), (1, 2): (0, 2, True), (0, 2): (1, 2, True),
                   (1, 3): (1, 2, True), (0, 1): (2, 2, True), (2, 3): (2, 2, True)}


def test_correctness_check_catches_a_wrong_sum_and_patterns_are_exact() -> None:
    """In a child process (torch stays out of the test runner's interpreter): one real rank told it has
    two members misses the peer's share and is flagged; the fill pattern sums exactly."""
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("correctness_child.py"))], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("correctness checks passed")


def test_torchrun_launches_the_same_worker(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    proc = subprocess.run([*torchrun, "-m", "tpdoctor.bench.worker", "--backend", "gloo", "--sizes", "1K,8K",
                           "--iters", "2", "--warmup", "1", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert [(d["group"], d["bytes"], d["correct"]) for d in data] == \
        [([0, 1], 1024, True), ([0, 1], 8192, True)]
    assert "TPDBENCH" in proc.stdout


def _free_port() -> int:
    from tpdoctor.bench.launch import free_port

    return free_port()
