"""GPU SKU specifications (`data/gpus.yaml`): what a GPU should have, for expectations and the cost model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tpdoctor.model.unknown import Maybe, Unknown

# Usable PCIe bandwidth per direction for x16, GB/s, by generation (docs/figures.md §2: ~16/31/63/121).
PCIE_X16_GBPS = {1: 4.0, 2: 8.0, 3: 15.75, 4: 31.5, 5: 63.0, 6: 121.0}
NVLINK_TOPOLOGIES = ("switch", "bridge", "mesh", "none")


@dataclass(frozen=True)
class NvlinkSpec:
    topology: str  # switch | bridge | mesh | none
    gen: int | None = None
    ports: int = 0  # physical links per GPU
    expected: int = 0  # links expected active per GPU when connected
    link_gbps: float = 0.0  # data rate per link per direction


@dataclass(frozen=True)
class Sku:
    key: str
    match: tuple[str, ...]
    arch: str
    memory_gib: float
    hbm_tbps: float
    pcie_gen: int
    pcie_width: int
    nvlink: NvlinkSpec
    allreduce_busbw_gbps: dict[str, Any]

    @property
    def has_nvlink(self) -> bool:
        return self.nvlink.topology != "none"


def _load(text: str) -> tuple[Sku, ...]:
    out = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster start-up where present
    for i, raw in enumerate(yaml.load(text, Loader=loader)):  # noqa: S506 - a safe loader
        try:
            nv = raw["nvlink"]
            if nv["topology"] not in NVLINK_TOPOLOGIES:
                raise ValueError(f"nvlink.topology {nv['topology']!r}")
            out.append(Sku(
                key=raw["key"],
                match=tuple(raw["match"]),
                arch=raw["arch"],
                memory_gib=float(raw["memory_gib"]),
                hbm_tbps=float(raw["hbm_tbps"]),
                pcie_gen=int(raw["pcie"]["gen"]),
                pcie_width=int(raw["pcie"]["width"]),
                nvlink=NvlinkSpec(
                    topology=nv["topology"], gen=nv.get("gen"), ports=int(nv.get("ports", 0)),
                    expected=int(nv.get("expected", 0)), link_gbps=float(nv.get("link_gbps", 0.0)),
                ),
                allreduce_busbw_gbps=dict(raw.get("allreduce_busbw_gbps") or {}),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"gpus.yaml entry {i}: bad or missing {exc}") from None
    return tuple(out)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Sku, ...]:
    return _load(resources.files("tpdoctor.data").joinpath("gpus.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=256)
def lookup(name: str) -> Sku | None:
    """The SKU whose pattern matches an NVML/nvidia-smi product name, or None when we do not know it."""
    for sku in catalogue():
        if any(re.search(p, name, re.IGNORECASE) for p in sku.match):
            return sku
    return None


def by_key(key: str) -> Sku | None:
    """The SKU with this catalogue key (e.g. 'h100-sxm'), or by product-name match as a fallback."""
    for sku in catalogue():
        if sku.key == key.lower():
            return sku
    return lookup(key)


def pcie_gbps(gen: Maybe[int], width: Maybe[int]) -> Maybe[float]:
    """Usable PCIe bandwidth per direction for a link of this generation and width."""
    if isinstance(gen, Unknown) or isinstance(width, Unknown):
        return Unknown("PCIe generation or width not known")
    if gen not in PCIE_X16_GBPS or width <= 0:
        return Unknown(f"PCIe Gen{gen} x{width} not rated")
    return round(PCIE_X16_GBPS[gen] * width / 16, 3)
