"""Planning: round-robin pairs, sequential pairs, groups, node; sizes; the busbw formula (pure, no torch)."""

from __future__ import annotations

from itertools import combinations

import pytest

from tpdoctor.bench.plan import plan_group, plan_groups, plan_node, plan_pairs, round_robin_pairs
from tpdoctor.model.busbw import algbw_gbps, busbw_factor, busbw_gbps, measured, peak_busbw_gbps
from tpdoctor.model.sizes import format_size, parse_size, parse_sizes


def test_eight_ranks_take_seven_rounds_of_four_disjoint_pairs_covering_all_28_once() -> None:
    rounds = round_robin_pairs(8)
    assert len(rounds) == 7
    seen = []
    for rnd in rounds:
        assert len(rnd) == 4
        ranks = [r for pair in rnd for r in pair]
        assert sorted(ranks) == list(range(8))  # disjoint, everyone busy
        seen.extend(rnd)
    assert sorted(seen) == list(combinations(range(8), 2))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 16])
def test_round_robin_covers_every_pair_once_with_disjoint_rounds(n: int) -> None:
    rounds = round_robin_pairs(n)
    assert len(rounds) == (n - 1 if n % 2 == 0 else n)
    seen = [p for rnd in rounds for p in rnd]
    assert sorted(seen) == list(combinations(range(n), 2))
    for rnd in rounds:
        ranks = [r for p in rnd for r in p]
        assert len(ranks) == len(set(ranks))
        assert len(rnd) == n // 2


def test_sequential_pairs_one_per_round() -> None:
    plan = plan_pairs(4, sequential=True)
    assert plan.rounds == tuple(((a, b),) for a, b in combinations(range(4), 2))
    assert plan.label == "pairs"


def test_groups_node_and_without() -> None:
    assert plan_node(4).rounds == (((0, 1, 2, 3),),)
    plan = plan_groups([(0, 1), (2, 3)], 4)
    assert plan.rounds == (((0, 1),), ((2, 3),)) and plan.label == "groups"
    assert plan_group((1, 2), 4).label == "group"
    assert plan_pairs(4).without({(0, 3), (1, 2)}).rounds == (((0, 2), (1, 3)), ((0, 1), (2, 3)))
    with pytest.raises(ValueError, match="outside the world"):
        plan_groups([(0, 4)], 4)
    with pytest.raises(ValueError, match="at least two"):
        plan_groups([(1,)], 4)
    with pytest.raises(ValueError, match="twice"):
        plan_groups([(1, 1)], 4)


def test_sizes() -> None:
    assert parse_sizes("8,1K,1M,64M") == (8, 1024, 1 << 20, 64 << 20)
    assert parse_sizes("8:64") == (8, 16, 32, 64)
    assert parse_sizes("1K:1M:4") == (1024, 4096, 16384, 65536, 262144, 1 << 20)
    assert parse_sizes("1G,8:8") == (8, 1 << 30)
    assert len(parse_sizes("8:1G")) == 28
    assert parse_size("2MiB") == 2 << 20 and parse_size("4kb") == 4096
    assert [format_size(s) for s in (8, 1024, 1536, 64 << 20, 1 << 30)] == ["8", "1K", "1536", "64M", "1G"]
    for bad in ("", "1X", "0", "8:4", "8:1K:1", "-1", "1,,2", "8:1G:x"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_busbw_formula_is_nccl_tests() -> None:
    assert busbw_factor(2) == 1.0 and busbw_factor(4) == 1.5 and busbw_factor(8) == 1.75
    assert algbw_gbps(1_000_000_000, 1_000_000.0) == pytest.approx(1.0)
    assert busbw_gbps(1 << 20, 100.0, 8) == pytest.approx((1 << 20) / 100e-6 / 1e9 * 1.75)
    r = measured((0, 1, 2, 3), "gloo", 4096, 10.0, correct=True, iterations=5, dtype="float32")
    assert r.busbw_gbps == pytest.approx(r.algbw_gbps * 1.5) and r.error is None
    wrong = measured((0, 1), "gloo", 4096, 10.0, correct=False, iterations=5, dtype="float32")
    assert wrong.error is not None and "wrong" in wrong.error
    assert peak_busbw_gbps([r, wrong]) == r.busbw_gbps
    assert peak_busbw_gbps([wrong]) is None
