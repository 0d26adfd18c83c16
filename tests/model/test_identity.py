"""A GPU is its UUID and bus id, not its index: the baseline, drift and a container's view (issue 20)."""

from __future__ import annotations

from dataclasses import replace

from tests.topologies import nvswitch_node
from tpdoctor.model.baseline import rebase, with_lost
from tpdoctor.model.health import View
from tpdoctor.model.identity import match
from tpdoctor.model.topology import Link, LinkHealth, Topology
from tpdoctor.model.unknown import Unknown
from tpdoctor.model.view import apply_view
from tpdoctor.node.drift import drift_items


def renumbered(topo: Topology, gone: int) -> Topology:
    """The node after GPU `gone` fell off the bus: nvidia-smi lists the rest from 0 again."""
    keep = [g for g in topo.gpus if g.index != gone]
    new = {g.index: i for i, g in enumerate(keep)}
    links = tuple(replace(lk, a=f"GPU{new[lk.indices[0]]}", b=f"GPU{new[lk.indices[1]]}")
                  for lk in topo.gpu_links() if gone not in lk.indices)
    return replace(topo, gpus=tuple(replace(g, index=new[g.index]) for g in keep), links=links)


def test_a_renumbered_node_is_matched_board_for_board() -> None:
    base = nvswitch_node(8)
    now = renumbered(base, 3)
    m = match(base, now)
    assert m.by == "uuid" and [g.label for g in m.gone] == ["GPU3"] and not m.added
    assert m.now_to_before == {0: 0, 1: 1, 2: 2, 3: 4, 4: 5, 5: 6, 6: 7}
    assert drift_items(base, now) == []  # no "GPU3 is a different board ... GPU7 is gone"
    lost = with_lost(now, base)
    (missing,) = lost.missing
    assert (missing.bus_id, missing.uuid, missing.baseline_index, missing.source) == (
        base.gpu(3).pci_bus_id, "GPU-sw-3", 3, "baseline")
    assert "GPUs renumbered since the baseline (matched by uuid): GPU3 was GPU4" in lost.probe_notes[-1]


def test_rebase_compares_the_same_two_boards() -> None:
    base = nvswitch_node(8)
    # in the baseline GPU4-GPU5 were NV12 on purpose; now renumbered they are GPU3-GPU4
    pair = base.gpu_link(4, 5)
    assert pair is not None
    base = replace(base, links=tuple(replace(lk, nvlinks=12, path="NV12", nvlinks_expected=12)
                                     if lk is pair else lk for lk in base.links))
    now = renumbered(base, 3)
    rebased = rebase(now, base)
    lk = rebased.gpu_link(3, 4)
    assert isinstance(lk, Link) and lk.nvlinks_expected == 12 and lk.evidence["baseline_pair"] == "GPU4-GPU5"
    assert lk.health is LinkHealth.OK


def test_a_board_swapped_into_the_same_slot_is_a_different_board() -> None:
    base = nvswitch_node(8)
    now = replace(base, gpus=tuple(replace(g, uuid="GPU-new-board") if g.index == 2 else g for g in base.gpus))
    items = drift_items(base, now)
    assert [(d.ident, d.what) for d in items] == [("GPU2", "gpu_changed")]
    assert "GPU-sw-2 -> GPU-new-board" in items[0].detail


def test_a_container_seeing_two_of_eight_reports_no_lost_gpu() -> None:
    base = nvswitch_node(8)
    two = renumbered(renumbered(renumbered(renumbered(renumbered(renumbered(base, 7), 6), 5), 4), 1), 0)
    assert [g.uuid for g in two.gpus] == ["GPU-sw-2", "GPU-sw-3"] and [g.index for g in two.gpus] == [0, 1]
    view = View("subset", "NVIDIA_VISIBLE_DEVICES=GPU-sw-2,GPU-sw-3: a container given 2 GPU(s)",
                ("GPU-sw-2", "GPU-sw-3"))
    seen = with_lost(replace(two, view=view), base)
    assert seen.missing == () and sum("outside this view" in n for n in seen.probe_notes) == 6
    assert drift_items(base, seen) == []
    by_index = replace(two, view=View("subset", "NVIDIA_VISIBLE_DEVICES=2,3", ("2", "3")))
    assert with_lost(by_index, base).missing == ()  # both named GPUs read: the others are outside
    one_short = replace(two, gpus=two.gpus[:1], links=(), view=by_index.view)  # given GPU2, GPU3; sees GPU2
    assert [m.uuid for m in with_lost(one_short, base).missing] == ["GPU-sw-3"]


def test_device_handle_errors_outside_a_container_view_are_not_missing() -> None:
    from tpdoctor.model.health import MissingGpu

    one = replace(renumbered(nvswitch_node(2), 0), view=View("subset", "NVIDIA_VISIBLE_DEVICES=1", ("1",)),
                  missing=(MissingGpu(bus_id="00000000:65:00.0", reason="nvidia-smi says: Unable ...",
                                      source="driver"),))
    scoped = apply_view(one)
    assert scoped.missing == () and "outside this view" in scoped.probe_notes[-1]
    assert apply_view(replace(one, view=View("node", "the node's GPUs"))).missing == one.missing


def test_without_identity_the_index_is_all_there_is() -> None:
    base = nvswitch_node(4)
    raw = Unknown("not in a raw `topo -m` capture")
    anonymous = replace(base, gpus=tuple(replace(g, uuid=raw, pci_bus_id=raw) for g in base.gpus))
    m = match(base, anonymous)
    assert m.by == "index" and m.now_to_before == {0: 0, 1: 1, 2: 2, 3: 3} and not m.gone
