"""Multi-node benchmark through torchrun, two "nodes" on this machine (loopback, distinct host names from
their scan reports): node pairs and the whole job in each node's report, fleet's NET paths, and the
watchdog from each node's side (a node that never comes, a hung collective, a rank killed on one node),
with no process left behind anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.helpers import HOSTS, ROOT, Nodes, marked, requires_torch
from tpdoctor.bench.multinode import parse_endpoint
from tpdoctor.bench.nodes import NodeJob, node_plan


def test_node_plan_pairs_in_rounds_then_the_job() -> None:
    nplan = node_plan(3, 2)
    assert nplan.plan.rounds == (((2, 4),), ((0, 4),), ((0, 2),), ((0, 1, 2, 3, 4, 5),))
    assert nplan.labels == ("node-pairs",) * 3 + ("job",)
    four = node_plan(4, 1)
    assert [len(r) for r in four.plan.rounds] == [2, 2, 2, 1]  # disjoint node pairs at once
    assert node_plan(2, 1).plan.rounds == (((0, 1),),)  # the job is the only pair: measured once
    assert node_plan(2, 8, pairs=False).plan.rounds == ((tuple(range(16)),),)
    job = NodeJob(nnodes=3, node_rank=1, nproc_per_node=2, rdzv_endpoint="n0:29500", host="b")
    assert job.my_ranks == {2, 3} and nplan.mine(job) == ((2, 4), (0, 2), (0, 1, 2, 3, 4, 5))


def test_endpoint_and_job_validation() -> None:
    assert parse_endpoint("node-0.cluster:29500") == ("node-0.cluster", 29500)
    assert parse_endpoint("[fd00::1]:29500") == ("fd00::1", 29500)
    for bad in ("node0", "node0:", ":29500", "node0:99999", "node0:http"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_endpoint(bad)
    with pytest.raises(ValueError, match="outside"):
        NodeJob(nnodes=2, node_rank=2, nproc_per_node=1, rdzv_endpoint="h:1", host="x")


@requires_torch
def test_two_nodes_report_pairs_and_job_and_fleet_shows_net(tmp_path: Path) -> None:
    nodes = Nodes(tmp_path, "--nproc-per-node", "2", "--sizes", "1K,64K", "--iters", "2", "--warmup", "1")
    nodes.start(0)
    nodes.start(1)
    done = nodes.finish()
    assert [done[s][0] for s in (0, 1)] == [0, 0], [done[s][2] for s in (0, 1)]
    reports = tmp_path / "reports"
    reports.mkdir()
    for side, host in enumerate(HOSTS):
        data = done[side][1]
        assert data["host"] == host and data["status"] == "ok"
        got = [(b["label"], b["group"], b["hosts"], b["local_ranks"], b["bytes"], b["correct"])
               for b in data["bench"]]
        assert got == [("node-pairs", [0, 2], ["node-a", "node-b"], [0, 0], 1024, True),
                       ("node-pairs", [0, 2], ["node-a", "node-b"], [0, 0], 65536, True),
                       ("job", [0, 1, 2, 3], ["node-a", "node-a", "node-b", "node-b"], [0, 1, 0, 1], 1024, True),
                       ("job", [0, 1, 2, 3], ["node-a", "node-a", "node-b", "node-b"], [0, 1, 0, 1], 65536, True)]
        (reports / f"{host}.json").write_text(json.dumps(data))
    assert nodes.leftovers() == []
    fleet = subprocess.run([sys.executable, "-m", "tpdoctor", "fleet", str(reports), "--json"], cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60)
    assert fleet.returncode == 0, fleet.stderr
    paths = json.loads(fleet.stdout)["inter_node"]
    assert [(p["label"], p["hosts"], p["ranks"], p["path"], p["reported_by"]) for p in paths] == [
        ("node-pairs", ["node-a", "node-b"], [0, 2], "NET", ["node-a", "node-b"]),
        ("job", ["node-a", "node-b"], [0, 1, 2, 3], "NET", ["node-a", "node-b"])]
    assert all(p["busbw_gbps"] > 0 and p["bytes"] == 65536 for p in paths)


@requires_torch
def test_node_that_never_comes_is_a_watchdog_error_naming_the_rendezvous_and_group(tmp_path: Path) -> None:
    nodes = Nodes(tmp_path, "--sizes", "1K", "--iters", "2", "--warmup", "1", "--startup-timeout", "5")
    t0 = time.monotonic()
    nodes.start(0)  # node 1 is never started
    code, data, stderr = nodes.finish()[0]
    assert time.monotonic() - t0 < 5 + 15
    assert code == 2, stderr
    (result,) = data["bench"]
    error = result["error"]
    assert "watchdog" in error and nodes.endpoint in error and "node 0 of 2 (node-a)" in error
    assert "rank0@node0+rank1@node1" in error and result["busbw_gbps"] == 0.0
    assert nodes.leftovers() == []


@requires_torch
def test_hung_collective_fails_on_both_nodes_naming_group_and_hosts(tmp_path: Path) -> None:
    # 64 MiB × 20 all-reduces take far longer than the 0.05 s step deadline: a "hung" step on both nodes
    nodes = Nodes(tmp_path, "--sizes", "64M", "--iters", "20", "--warmup", "1", "--timeout", "0.05")
    nodes.start(0)
    nodes.start(1)
    done = nodes.finish()
    for side in (0, 1):
        code, data, stderr = done[side]
        assert code == 2, stderr
        (result,) = data["bench"]
        assert data["status"] == "critical" and not result["correct"]
        assert "rank0@node-a+rank1@node-b (gloo, nodes 0+1)" in result["error"], result["error"]
        assert result["hosts"] == ["node-a", "node-b"]
    assert any("did not finish within 0.05 s at 64M B" in done[s][1]["bench"][0]["error"] for s in (0, 1))
    assert nodes.leftovers() == []


@requires_torch
def test_rank_killed_on_one_node_fails_both_nodes_and_leaves_nothing(tmp_path: Path) -> None:
    nodes = Nodes(tmp_path, "--sizes", "1K", "--iters", "2", "--warmup", "1", "--startup-timeout", "15")
    nodes.start(0)
    nodes.start(1)
    victim = _wait_for_worker(nodes.mark, node=1)
    os.kill(victim, signal.SIGKILL)
    done = nodes.finish()
    code_b, data_b, err_b = done[1]
    assert code_b == 2, err_b
    error_b = data_b["bench"][0]["error"]
    assert "torchrun on node 1 (node-b) exited with code 1" in error_b and "SIGKILL" in error_b
    assert "rank0@node0+rank1@node1" in error_b
    code_a, data_a, err_a = done[0]
    assert code_a == 2, err_a
    assert "rank1@node1" in data_a["bench"][0]["error"] or "rank1@node-b" in data_a["bench"][0]["error"]
    assert nodes.leftovers() == []


def _wait_for_worker(mark: str, node: int, timeout: float = 60) -> int:
    """The pid of node `node`'s worker rank, as soon as torchrun has started it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in marked(mark):
            try:
                cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes()
                env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tpdoctor.bench.worker" in cmd and f"GROUP_RANK={node}".encode() in env \
                    and b"torch.distributed.run" not in cmd:
                return pid
        time.sleep(0.1)
    raise AssertionError(f"no worker of node {node} appeared within {timeout} s")


@pytest.mark.parametrize(("args", "needle"), [
    (["--nnodes", "2"], "--nnodes needs --node-rank and --rdzv-endpoint"),
    (["--node-rank", "0"], "--node-rank go with --nnodes"),
    (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "n0:29500"], "outside 0..1"),
    (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "n0"], "not HOST:PORT"),
    (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "n0:1", "--gpus", "0,1"], "--gpus is for one node"),
    (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "n0:1", "--world-size", "4"], "--world-size"),
    (["--nnodes", "1", "--node-rank", "0", "--rdzv-endpoint", "n0:1"], "x>=2"),
])
def test_multi_node_usage_errors_exit_3(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tpdoctor.cli import main

    assert main(["bench", "--backend", "gloo", *args]) == 3
    assert needle in capsys.readouterr().err


def test_pairs_and_node_flags_choose_what_crosses_nodes() -> None:
    from tpdoctor.commands.bench import _multi_node

    def chosen(pairs: bool, node: bool) -> tuple[bool, bool]:
        multi = _multi_node(3, 1, "n0:29500", 4, (), None, False, pairs, node)
        assert multi is not None and (multi.nnodes, multi.node_rank, multi.nproc_per_node) == (3, 1, 4)
        return multi.pairs, multi.job

    assert chosen(False, False) == (True, True)
    assert chosen(True, False) == (True, False)
    assert chosen(False, True) == (False, True)
    assert _multi_node(None, None, None, None, (), None, False, True, False) is None


def test_multi_node_launcher_and_fleet_never_import_torch() -> None:
    code = ("import sys\n"
            "import tpdoctor.bench.multinode, tpdoctor.bench.nodes, tpdoctor.bench.torchrun, tpdoctor.fleet.view\n"
            "import tpdoctor.report.fleet_text\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == 0, proc.stderr
