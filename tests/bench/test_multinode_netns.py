"""Two network namespaces play two nodes: `tpdoctor bench --nnodes 2` runs in each (torchrun, gloo over a
veth pair shaped by `tc`), each node writes its report, and `tpdoctor fleet` over the two reports shows
the inter-node path (NET) with its measured busbw within 15% of the shaped rate.

Each "node" gets its own hostname too (`unshare --uts`), as two machines would. The rendezvous address is
the veth's end in the first namespace, inside our own /30: no traffic leaves the namespaces. Everything
(processes, namespaces, veth ends) is removed even on failure, and checked to be gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.helpers import requires_torch
from tests.bench.netns import NamespacePair, namespace_pids
from tpdoctor.bench.procs import kill_sessions, session_members

pytestmark = [pytest.mark.netns, requires_torch]

ROOT = Path(__file__).resolve().parents[2]
RATE_MBIT = 400  # per direction: 0.05 GB/s
RATE_GBPS = RATE_MBIT * 1e6 / 8 / 1e9
SIZE = "4M"  # ~84 ms per all-reduce at the shaped rate
HOSTS = ("node-a", "node-b")


def _node_command(pair: NamespacePair, side: int, endpoint: str) -> list[str]:
    bench = [sys.executable, "-m", "tpdoctor", "bench", "--nnodes", "2", "--node-rank", str(side),
             "--rdzv-endpoint", endpoint, "--nproc-per-node", "1", "--backend", "gloo", "--sizes", SIZE,
             "--iters", "5", "--warmup", "2", "--timeout", "30", "--startup-timeout", "90", "--json"]
    return ["ip", "netns", "exec", pair.ns[side], "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"',
            HOSTS[side], *bench]


def test_two_namespaces_as_two_nodes_fleet_shows_the_net_path(namespaces: NamespacePair,
                                                             tmp_path: Path) -> None:
    link = namespaces.link(RATE_MBIT)
    endpoint = f"{link.address(0)}:29500"
    reports = tmp_path / "reports"
    reports.mkdir()
    procs: list[subprocess.Popen[str]] = []
    try:
        for side in (0, 1):
            env = dict(os.environ, PYTHONPATH=str(ROOT), GLOO_SOCKET_IFNAME=link.names[side])
            out = open(reports / f"{HOSTS[side]}.json", "w")  # noqa: SIM115 (closed right after Popen)
            with out:
                procs.append(subprocess.Popen(_node_command(namespaces, side, endpoint), cwd=ROOT, env=env,
                                              stdout=out, stderr=subprocess.PIPE, text=True,
                                              start_new_session=True))
        errors = [p.communicate(timeout=150)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        # the nodes' commands left nothing behind inside their "machines"
        assert [namespace_pids(ns) for ns in namespaces.ns] == [[], []]
    finally:
        kill_sessions([p.pid for p in procs], grace_seconds=0.5)
        for p in procs:
            p.wait(timeout=10)
    assert session_members([p.pid for p in procs]) == []

    for host in HOSTS:
        data = json.loads((reports / f"{host}.json").read_text())
        assert data["schema"] == "tpdoctor/v1" and data["host"] == host and data["status"] == "ok"
        (result,) = data["bench"]
        assert result["hosts"] == list(HOSTS) and result["group"] == [0, 1] and result["correct"]

    fleet = subprocess.run([sys.executable, "-m", "tpdoctor", "fleet", str(reports), "--json"], cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                           timeout=60)
    assert fleet.returncode == 0, fleet.stderr
    view = json.loads(fleet.stdout)
    (net,) = view["inter_node"]
    assert net["hosts"] == list(HOSTS) and net["path"] == "NET" and net["reported_by"] == list(HOSTS)
    measured = net["busbw_gbps"]
    assert abs(measured - RATE_GBPS) / RATE_GBPS <= 0.15, f"measured {measured:.4f} GB/s vs {RATE_GBPS} shaped"

    text = subprocess.run([sys.executable, "-m", "tpdoctor", "fleet", str(reports)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="140"), capture_output=True,
                          text=True, timeout=60).stdout
    row = next(line for line in text.splitlines() if "node-pairs" in line)
    assert "node-a ↔ node-b" in row and "NET" in row and f"{measured:.3f}" in row
