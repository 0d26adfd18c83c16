"""Pure pieces over results: attaching pair busbw to links, expectations, the rich views."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tpdoctor.model.attach import attach_busbw, pair_peaks
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import failed, measured
from tpdoctor.model.expected_busbw import (
    busbw_ratio,
    expected_busbw_gbps,
    nvlink_busbw_gbps,
    pair_busbw_gbps,
    pcie_busbw_gbps,
    ring_busbw_gbps,
)
from tpdoctor.model.topology import Gpu, Link, LinkHealth, Topology
from tpdoctor.report.bench_text import heat_style, pair_heatmap, render_bench, size_table


def _topology() -> Topology:
    gpus = tuple(Gpu(index=i, name="NVIDIA H100 NVL") for i in range(3))
    links = (Link(a="GPU0", b="GPU1", path="PHB", nvlinks_expected=12, health=LinkHealth.DOWN),
             Link(a="GPU0", b="GPU2", path="SYS"),
             Link(a="GPU1", b="GPU2", path="NV12", nvlinks=12, nvlinks_expected=12, health=LinkHealth.OK))
    return Topology(host="h", source="fixture", captured_at="2026-01-01T00:00:00Z", gpus=gpus, links=links)


def _pair(a: int, b: int, nbytes: int, time_us: float) -> BenchResult:
    return measured((a, b), "nccl", nbytes, time_us, correct=True, iterations=20, dtype="float32",
                    label="pairs")


RESULTS = (
    _pair(0, 1, 1 << 20, 50.0), _pair(0, 1, 64 << 20, 3000.0),
    _pair(1, 2, 1 << 20, 10.0), _pair(1, 2, 64 << 20, 300.0),
    failed((0, 2), "nccl", 1 << 20, "watchdog: all-reduce on GPU0+GPU2 (nccl) did not finish", label="pairs"),
)


def test_attach_puts_peak_pair_busbw_on_links_and_leaves_the_rest() -> None:
    topo = _topology()
    out = attach_busbw(topo, RESULTS)
    assert out is not topo and topo.gpu_link(0, 1).busbw_gbps is None  # pure
    assert out.gpu_link(0, 1).busbw_gbps == pytest.approx((64 << 20) / 3000e-6 / 1e9)
    assert out.gpu_link(1, 2).busbw_gbps == pytest.approx((64 << 20) / 300e-6 / 1e9)
    assert out.gpu_link(0, 2).busbw_gbps is None  # failed: nothing measured
    assert out.gpu_link(1, 2).path == "NV12" and out.gpus == topo.gpus
    assert set(pair_peaks(RESULTS)) == {("GPU0", "GPU1"), ("GPU1", "GPU2")}
    reversed_group = measured((2, 1), "nccl", 8, 1.0, correct=True, iterations=1, dtype="float32")
    assert ("GPU1", "GPU2") in pair_peaks([reversed_group])


def test_expectations_from_plain_numbers() -> None:
    assert nvlink_busbw_gbps(12, 25.0) == pytest.approx(240.0)
    assert pcie_busbw_gbps(63.0, "PIX") == pytest.approx(50.4)
    assert pcie_busbw_gbps(63.0, "SYS") == pytest.approx(31.5)
    assert pair_busbw_gbps("NV12", nvlinks=12, link_gbps=25.0, pcie_gbps=63.0) == pytest.approx(240.0)
    assert pair_busbw_gbps("PHB", nvlinks=0, pcie_gbps=63.0) == pytest.approx(31.5)
    assert ring_busbw_gbps([240.0, 31.5, 240.0]) == 31.5
    assert expected_busbw_gbps(240.0, 116.0) == 116.0 and expected_busbw_gbps(240.0) == 240.0
    assert busbw_ratio(58.0, 116.0) == 0.5
    with pytest.raises(ValueError):
        busbw_ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        ring_busbw_gbps([])


def _text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_heatmap_shows_paths_values_and_failures() -> None:
    text = _text(pair_heatmap(RESULTS, attach_busbw(_topology(), RESULTS)))
    assert "NV12 223.7" in text and "PHB 22.4" in text and "SYS FAIL" in text
    no_topology = _text(pair_heatmap(RESULTS))
    assert "223.7" in no_topology and "FAIL" in no_topology and "NV12" not in no_topology


def test_heat_colours_go_from_red_to_green() -> None:
    low, high = heat_style(0.0, 100.0), heat_style(100.0, 100.0)
    assert low.bgcolor is not None and high.bgcolor is not None
    lo, hi = low.bgcolor.get_truecolor(), high.bgcolor.get_truecolor()
    assert lo.red > lo.green and hi.green > hi.red


def test_size_table_and_render_choice() -> None:
    node = [measured((0, 1, 2, 3), "gloo", s, t, correct=True, iterations=5, dtype="float32", label="node")
            for s, t in ((1024, 10.0), (1 << 20, 1000.0))]
    node.append(failed((0, 1, 2, 3), "gloo", 16 << 20, "watchdog: GPU0+GPU1+GPU2+GPU3 hung", label="node"))
    text = _text(size_table((0, 1, 2, 3), node))
    assert "rank0+rank1+rank2+rank3 · gloo · 4 ranks · peak busbw 1.573 GB/s" in text
    assert "16M" in text and "watchdog" in text and "1000.0" in text
    assert "pairs" in _text(render_bench(RESULTS)) and "pairwise" in _text(render_bench(RESULTS))
    assert "pairwise" not in _text(render_bench(node))
