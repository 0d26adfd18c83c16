"""The baseline as expectation: `rebase` re-judges a snapshot against it, `accept` records one as is."""

from __future__ import annotations

from tests.topologies import h100_nvl_4gpu, scenario
from tpdoctor.model.baseline import accept, rebase
from tpdoctor.model.topology import LinkHealth


def pair(topo, a: int, b: int):  # type: ignore[no-untyped-def]
    lk = topo.gpu_link(a, b)
    assert lk is not None
    return lk


def test_a_suspect_bridge_is_settled_by_the_baseline() -> None:
    now = scenario("h100-nvl-ports-unread")
    assert pair(now, 0, 1).health is LinkHealth.UNKNOWN
    was_bridged = rebase(now, h100_nvl_4gpu())  # the baseline had NV12 on GPU0-GPU1
    lk = pair(was_bridged, 0, 1)
    assert (lk.health, lk.nvlinks_expected, lk.evidence["expected_from"]) == (LinkHealth.DOWN, 12, "baseline")
    assert "suspect" not in lk.evidence
    never_bridged = rebase(now, accept(h100_nvl_4gpu(down=[(0, 1)])))  # accepted without that bridge
    assert pair(never_bridged, 0, 1).health is LinkHealth.OK


def test_pairs_the_capture_never_showed_stay_unknown() -> None:
    from dataclasses import replace

    now = h100_nvl_4gpu()
    unseen = tuple(replace(lk, health=LinkHealth.UNKNOWN, evidence={"unseen": "cut"}) if lk.indices == (2, 3) else lk
                   for lk in now.links)
    lk = pair(rebase(replace(now, links=unseen), h100_nvl_4gpu()), 2, 3)
    assert lk.health is LinkHealth.UNKNOWN and lk.evidence == {"unseen": "cut"}


def test_accept_expects_what_is_there() -> None:
    accepted = accept(h100_nvl_4gpu(down=[(0, 1)]))
    lk = pair(accepted, 0, 1)
    assert (lk.nvlinks_expected, lk.health, lk.evidence["expected_from"]) == (0, LinkHealth.OK, "accepted")
    assert pair(accepted, 2, 3).nvlinks_expected == 12
