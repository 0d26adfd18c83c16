"""Placement: the search's optimum equals brute force on every 8- and 16-GPU topology we have."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tpdoctor.advice import placement
from tpdoctor.model import synthetic
from tpdoctor.probes import replay

ROOT = Path(__file__).resolve().parents[2]


def fixtures_8_16():  # type: ignore[no-untyped-def]
    topos = [synthetic.a100_nvswitch(), synthetic.h100_sxm(), synthetic.pcie_two_socket(),
             synthetic.nvswitch_node("NVIDIA H100 80GB HBM3", 81559, 18, 8, broken=[(0, 1, 0), (2, 5, 9)]),
             synthetic.nvswitch_node("Tesla V100-SXM3-32GB", 32768, 6, 16, broken=[(3, 12, 0), (7, 8, 3)]),
             synthetic.pcie_two_socket(n=16)]
    topos += [synthetic.random_node(8, seed) for seed in range(25)]
    topos += [synthetic.random_node(16, seed) for seed in range(100, 110)]
    captures = sorted((ROOT / "fixtures" / "smi" / "topo-m").glob("*.txt"))  # real machines (scan's corpus)
    for p in sorted((ROOT / "fixtures" / "topologies").glob("*.json")) + captures:
        t = replay.load(p)
        if len(t.gpus) in (8, 16):
            topos.append(replace(t, host=p.stem[:40]))
    return topos


TOPOLOGIES = fixtures_8_16()


@pytest.mark.parametrize("topo", TOPOLOGIES, ids=lambda t: f"{t.host}")
def test_same_optimum_as_brute_force(topo) -> None:  # type: ignore[no-untyped-def]
    sizes = (2, 3, 4, 8) if len(topo.gpus) == 8 else (2, 4, 8)
    table = placement.PairTable(topo)
    for n in sizes:
        for exclude in ((), (0,), (1, 5)):
            got = placement.best_group(topo, n, exclude=exclude, table=table)
            want = placement.brute_force_best(topo, n, exclude=exclude)
            if want is None:
                assert got is None
                continue
            assert got is not None
            assert got.score == want.score, (n, exclude, got, want)
            assert got.gpus == want.gpus  # same tie-break: lowest indices
            assert not set(got.gpus) & set(exclude)


def test_canonical_node_prefers_the_healthy_pair() -> None:
    topo = replay.load(replay.example_path())
    g = placement.best_group(topo, 2)
    assert g is not None and g.gpus == (2, 3) and g.weakest_path == "NV12"
    held = placement.best_group(topo, 2, exclude=[3])
    assert held is not None and held.gpus == (0, 1) and held.weakest_path == "NODE"


def test_nvl72_with_broken_links_avoids_them() -> None:
    broken = [(0, 1, 0), (2, 3, 9), (5, 40, 0), (6, 7, 17)]
    topo = synthetic.nvl72(broken)
    table = placement.PairTable(topo)
    for n in (2, 4, 8, 16):
        g = placement.best_group(topo, n, table=table)
        assert g is not None and len(g.gpus) == n and g.weakest_path == "NV18"
        pairs = {(min(a, b), max(a, b)) for a, b, _ in broken}
        assert not any((a, b) in pairs for i, a in enumerate(g.gpus) for b in g.gpus[i + 1:])
        assert g.numa_nodes == (n + 1) // 2  # 2 GPUs per Grace: as local as it gets
    held = set(range(0, 64))
    g = placement.best_group(topo, 8, exclude=held, table=table)
    assert g is not None and set(g.gpus) == set(range(64, 72))
    assert placement.best_group(topo, 9, exclude=held, table=table) is None


def test_missing_links_are_worst() -> None:
    topo = synthetic.example_node()
    from dataclasses import replace

    cut = replace(topo, links=tuple(lk for lk in topo.links if {lk.a, lk.b} != {"GPU2", "GPU3"}))
    g = placement.best_group(cut, 2)
    assert g is not None and g.gpus == (0, 1)
    assert placement.brute_force_best(cut, 2).score == g.score  # type: ignore[union-attr]
