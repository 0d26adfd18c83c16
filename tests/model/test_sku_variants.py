"""GPU variants by memory size and form factor: each nvidia-smi / NVML product name resolves to its own part
(memory, HBM bandwidth), and a GPU tpdoctor does not know stays unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tpdoctor.model import skus

ROOT = Path(__file__).resolve().parents[2]

# Product names as nvidia-smi --query-gpu=name / NVML print them (the shared topo-m corpus and the fixtures hold
# most of them: "NVIDIA A100-SXM4-40GB", "Tesla V100-SXM2-16GB", "NVIDIA GB200" …) → (SKU, GiB, TB/s).
NAMES = {
    "NVIDIA A100-SXM4-40GB": ("a100-sxm-40gb", 40, 1.555), "NVIDIA A100-SXM4-80GB": ("a100-sxm", 80, 2.039),
    "NVIDIA A100-PCIE-40GB": ("a100-pcie-40gb", 40, 1.555), "NVIDIA A100 80GB PCIe": ("a100-pcie", 80, 1.935),
    "NVIDIA H100 80GB HBM3": ("h100-sxm", 80, 3.35), "NVIDIA H100 PCIe": ("h100-pcie", 80, 2.0),
    "NVIDIA H100 NVL": ("h100-nvl", 94, 3.9), "NVIDIA H200": ("h200-sxm", 141, 4.8),
    "NVIDIA H200 NVL": ("h200-nvl", 141, 4.8), "NVIDIA H20": ("h20", 96, 4.0),
    "NVIDIA GH200 480GB": ("gh200", 96, 4.0), "NVIDIA GH200 144G HBM3e": ("gh200-144gb", 144, 4.9),
    "NVIDIA H800": ("h800-sxm", 80, 3.35), "NVIDIA H800 PCIe": ("h800-pcie", 80, 2.0),
    "NVIDIA L4": ("l4", 24, 0.3), "NVIDIA L40": ("l40", 48, 0.864), "NVIDIA L40S": ("l40s", 48, 0.864),
    "NVIDIA L20": ("l20", 48, 0.864), "NVIDIA A10": ("a10", 24, 0.6), "NVIDIA A10G": ("a10g", 24, 0.6),
    "NVIDIA GeForce RTX 4090": ("rtx-4090", 24, 1.008), "NVIDIA RTX 6000 Ada Generation": ("rtx-6000-ada", 48, 0.96),
    "NVIDIA B200": ("b200", 180, 8.0), "NVIDIA GB200": ("gb200", 186, 8.0), "NVIDIA GB10": ("gb10", 128, 0.273),
    "Tesla V100-SXM2-16GB": ("v100-sxm2-16gb", 16, 0.9), "Tesla V100-SXM2-32GB": ("v100-sxm2", 32, 0.9),
    "Tesla V100-SXM2-32GB-LS": ("v100-sxm2", 32, 0.9), "Tesla V100-PCIE-16GB": ("v100-pcie-16gb", 16, 0.9),
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_product_name_is_its_own_variant(name: str) -> None:
    key, gib, tbps = NAMES[name]
    sku = skus.lookup(name)
    assert sku is not None and (sku.key, sku.memory_gib, sku.hbm_tbps) == (key, gib, tbps), sku


def test_an_unknown_gpu_stays_unknown() -> None:
    assert skus.lookup("NVIDIA Hypothetical X900") is None


def _machines(node: Any) -> list[tuple[str, int]]:
    if isinstance(node, dict):
        found = [(node["name"], node["memory_mib"])] if isinstance(node.get("name"), str) and isinstance(
            node.get("memory_mib"), int) else []
        return found + [m for v in node.values() for m in _machines(v)]
    if isinstance(node, list):
        return [m for v in node for m in _machines(v)]
    return []


def test_every_fixture_gpu_resolves_to_a_part_of_its_memory() -> None:
    """Every GPU the fake-NVML fixtures describe (name + memory as the driver reports it) resolves to the SKU of
    that memory size: the 40 GB A100 is not taken for the 80 GB part."""
    seen = {(n, m) for p in sorted((ROOT / "fixtures" / "nvml").glob("*.yaml"))
            for n, m in _machines(yaml.safe_load(p.read_text(encoding="utf-8")))}
    assert len({n for n, _ in seen}) >= 5, seen
    for name, mib in seen:
        sku = skus.lookup(name)
        assert sku is not None, name
        assert abs(mib / 1024 - sku.memory_gib) / sku.memory_gib < 0.08, (name, mib, sku.key, sku.memory_gib)
