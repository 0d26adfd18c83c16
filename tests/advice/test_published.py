"""The published decode set (benchmarks/data) and the model held against it: the conversions are the ones
documented, every point names a source with provenance, and the held-back part stays within the issue's
bounds (median |error| ≤ 20% on per-token latency, ≤ 10% on TP-scaling ratios). A change to the model that
breaks them has to say so here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import costmodel_vs_published as cvp  # noqa: E402
import published  # noqa: E402


@pytest.fixture(scope="module")
def pts():  # type: ignore[no-untyped-def]
    return published.points()


def test_every_point_has_a_source_with_provenance(pts) -> None:  # type: ignore[no-untyped-def]
    points, left = pts
    sources = yaml.safe_load((BENCH / "data" / "published_sources.yaml").read_text(encoding="utf-8"))
    for p in points:
        assert p.source in sources and sources[p.source].get("url"), p.id
    assert len({p.id for p in points}) == len(points)
    rows = published.load_rows()
    assert len(points) + len(left) == len(rows)  # every row is used or left out with a reason
    assert all(why for _, why in left)


def test_conversions_are_the_documented_ones(pts) -> None:  # type: ignore[no-untyped-def]
    by_id = {p.id: p for p in pts[0]}
    assert by_id["P001"].step_ms == pytest.approx(1000 / 104.9)  # gpt-fast tok/s at batch 1
    # FasterTransformer GPT-20B TP=1 batch 1: (5609 − 560 − 20/68 × (566 − 560)) / 180
    assert by_id["P044"].step_ms == pytest.approx((5609 - 560 - 20 / 68 * 6) / 180)
    assert by_id["P196"].step_ms == pytest.approx(1.68 * 32)  # BLOOM ms/token amortised × batch
    assert by_id["P216"].prefill_tokens == pytest.approx(24 * 5000 / 500)  # NIM: other streams' prompts
    left = dict(pts[1])
    assert "MTP" in left["P184"] and "duplicate" in left["P032"] and "batch size" in left["P121"]


def test_split_and_the_held_back_error_bounds(pts) -> None:  # type: ignore[no-untyped-def]
    hold = [p for p in pts[0] if p.split == "holdout"]
    calib = [p for p in pts[0] if p.split == "calibration"]
    assert len(hold) >= 60 and len({p.source for p in hold}) >= 6 and len(calib) >= 30
    assert not {p.series for p in hold} & {p.series for p in calib}  # no series straddles the split
    s = cvp.stats(hold)
    assert s["lat_median"] <= 0.20 and s["ratio_median"] <= 0.10, s
