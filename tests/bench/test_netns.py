"""A real slow link, measured: two gloo ranks in two network namespaces joined by a veth pair that `tc`
shapes to a known rate; `tpdoctor`'s busbw lands within 15% of it, and an unshaped veth pair is clearly
faster. Traffic stays on the veths between our own namespaces. Everything is removed even on failure."""

from __future__ import annotations

import pytest

from tests.bench.helpers import requires_torch
from tests.bench.netns import NamespacePair, VethLink
from tpdoctor.bench.launch import BenchOptions, BenchRun
from tpdoctor.bench.plan import plan_node
from tpdoctor.bench.procs import session_members
from tpdoctor.bench.runner import Launcher, run_plan
from tpdoctor.model.busbw import peak_busbw_gbps

pytestmark = [pytest.mark.netns, requires_torch]

RATE_MBIT = 400  # on the wire, per direction: 0.05 GB/s
RATE_GBPS = RATE_MBIT * 1e6 / 8 / 1e9
SIZE = 4 << 20  # ~84 ms per all-reduce at the shaped rate: latency and TCP/IP headers are small next to it


def _bench(pair: NamespacePair, link: VethLink, iters: int) -> BenchRun:
    launcher = Launcher(master_addr=link.address(0), prefix=lambda r: ["ip", "netns", "exec", pair.ns[r]],
                        env=lambda r: {"GLOO_SOCKET_IFNAME": link.names[r]})
    options = BenchOptions(backend="gloo", sizes=(SIZE,), iters=iters, warmup=2, timeout_seconds=30.0,
                           startup_timeout_seconds=90.0)
    run = run_plan(plan_node(2), [0, 1], options, launcher=launcher)
    assert run.leftover_pids == () and session_members(run.sessions) == []
    return run


def test_shaped_veth_measures_its_rate_and_unshaped_is_faster(namespaces: NamespacePair) -> None:
    shaped = namespaces.link(RATE_MBIT)
    free = namespaces.link(None)
    slow = _bench(namespaces, shaped, iters=5)
    fast = _bench(namespaces, free, iters=5)
    slow_gbps, fast_gbps = peak_busbw_gbps(slow.results), peak_busbw_gbps(fast.results)
    assert slow_gbps is not None and fast_gbps is not None, (slow.results, fast.results)
    assert all(r.correct for r in (*slow.results, *fast.results))
    # 2 ranks: busbw = algbw = what each direction carries per second
    assert abs(slow_gbps - RATE_GBPS) / RATE_GBPS <= 0.15, f"measured {slow_gbps:.4f} GB/s vs {RATE_GBPS}"
    assert fast_gbps > 3 * slow_gbps, f"unshaped {fast_gbps:.4f} GB/s vs shaped {slow_gbps:.4f}"
