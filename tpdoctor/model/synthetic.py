"""Synthetic node topologies built from a few parameters: for tests, benchmarks and what-if checks.

They follow the `topo -m` conventions of real machines (NV# between NVLink peers, PIX/PXB/PHB/NODE/SYS
for PCIe paths, a broken NVLink pair carrying its PCIe path with `nvlinks_expected` set), but they are
not captures: real fixtures come from the scan helper's `tpdoctor/examples/` and `fixtures/`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from tpdoctor.model import skus
from tpdoctor.model.topology import Gpu, Link, LinkHealth, Topology

MIB_PER_GIB = 1024


def _gpu(i: int, name: str, memory_mib: int, numa: int) -> Gpu:
    return Gpu(index=i, name=name, uuid=f"GPU-{i:08x}-0000-0000-0000-000000000000",
               pci_bus_id=f"00000000:{0x18 + i:02X}:00.0", memory_mib=memory_mib, numa_node=numa)


def _nominal(name: str, path: str) -> float | None:
    sku = skus.lookup(name)
    if sku is None:
        return None
    if path.startswith("NV"):
        return int(path[2:]) * sku.nvlink.link_gbps
    return skus.PCIE_X16_GBPS.get(sku.pcie_gen)


def build(host: str, name: str, memory_mib: int, numa: list[int],
          pair: Callable[[int, int], tuple[str, int, str]]) -> Topology:
    """`pair(i, j)` -> (effective path, NVLinks expected, PCIe path). A pair whose expected NVLinks exceed
    the effective path's is degraded (some up) or down (none up: the effective path is the PCIe path)."""
    gpus = tuple(_gpu(i, name, memory_mib, numa[i]) for i in range(len(numa)))
    links = []
    for i in range(len(numa)):
        for j in range(i + 1, len(numa)):
            path, expected, pcie = pair(i, j)
            up = int(path[2:]) if path.startswith("NV") else 0
            health = LinkHealth.OK if up >= expected else (LinkHealth.DEGRADED if up else LinkHealth.DOWN)
            nominal = _nominal(name, path)
            links.append(Link(a=f"GPU{i}", b=f"GPU{j}", path=path, nvlinks=up, nvlinks_expected=expected,
                              pcie_path=pcie, p2p="OK", health=health,
                              nominal_gbps=nominal if nominal is not None else 0.0))
    return Topology(host=host, source="fixture", captured_at="2026-01-01T00:00:00Z", gpus=gpus,
                    links=tuple(links))


def example_node() -> Topology:
    """Like the bundled example (tpdoctor/examples/): 4× H100 NVL, bridges GPU0–GPU1 (down) and GPU2–GPU3
    (NV12 healthy); the pairs sit on different sockets."""
    def pair(i: int, j: int) -> tuple[str, int, str]:
        if {i, j} == {0, 1}:
            return "NODE", 12, "NODE"
        if {i, j} == {2, 3}:
            return "NV12", 12, "NODE"
        return "SYS", 0, "SYS"
    return build("example-h100nvl", "NVIDIA H100 NVL", 95830, [0, 0, 1, 1], pair)


def nvswitch_node(name: str, memory_mib: int, nvlinks: int, n: int = 8, *,
                  broken: Iterable[tuple[int, int, int]] = (), host: str = "hgx") -> Topology:
    """n GPUs on NVSwitches (NV<nvlinks> between every pair), two sockets. `broken`: (i, j, links up)."""
    down = {(min(i, j), max(i, j)): up for i, j, up in broken}
    half = n // 2

    def pair(i: int, j: int) -> tuple[str, int, str]:
        pcie = "NODE" if (i < half) == (j < half) else "SYS"
        up = down.get((i, j), nvlinks)
        return (f"NV{up}" if up else pcie), nvlinks, pcie
    return build(host, name, memory_mib, [0 if i < half else 1 for i in range(n)], pair)


def a100_nvswitch() -> Topology:
    return nvswitch_node("NVIDIA A100-SXM4-80GB", 81920, 12, host="dgx-a100")


def h100_sxm() -> Topology:
    return nvswitch_node("NVIDIA H100 80GB HBM3", 81559, 18, host="hgx-h100")


def pcie_two_socket(name: str = "NVIDIA GeForce RTX 4090", memory_mib: int = 24564, n: int = 8) -> Topology:
    """n PCIe GPUs, half per socket; pairs behind one switch (PIX), switches under one root (PXB… NODE)."""
    half = n // 2

    def pair(i: int, j: int) -> tuple[str, int, str]:
        if (i < half) != (j < half):
            return "SYS", 0, "SYS"
        p = "PIX" if i // 2 == j // 2 else "NODE"
        return p, 0, p
    return build("pcie-4090", name, memory_mib, [0 if i < half else 1 for i in range(n)], pair)


def nvl72(broken: Iterable[tuple[int, int, int]] = ()) -> Topology:
    """A 72-GPU NVLink domain (GB200 NVL72: 18 trays × 4 GPUs, 2 GPUs per Grace); `broken` links carry
    their tray-local PCIe/C2C path (SYS) or the network (NET) across trays."""
    down = {(min(i, j), max(i, j)): up for i, j, up in broken}

    def pair(i: int, j: int) -> tuple[str, int, str]:
        fallback = ("NODE" if i // 2 == j // 2 else "SYS") if i // 4 == j // 4 else "NET"
        up = down.get((i, j), 18)
        return (f"NV{up}" if up else fallback), 18, fallback
    return build("nvl72", "NVIDIA GB200", 189471, [i // 2 for i in range(72)], pair)


def random_node(n: int, seed: int) -> Topology:
    """A random mixture of NVLink counts, PCIe paths, broken links and NUMA nodes (brute-force tests)."""
    rng = random.Random(seed)
    numa = [rng.randrange(max(1, n // 4)) for _ in range(n)]
    pcie_choices = ["PIX", "PXB", "PHB", "NODE", "SYS"]
    table: dict[tuple[int, int], tuple[str, int, str]] = {}
    for i in range(n):
        for j in range(i + 1, n):
            pcie = rng.choice(pcie_choices) if numa[i] == numa[j] else "SYS"
            if rng.random() < 0.5:
                expected = rng.choice([2, 4, 6, 12, 18])
                up = expected if rng.random() < 0.7 else rng.randrange(expected)
                table[(i, j)] = ((f"NV{up}" if up else pcie), expected, pcie)
            else:
                table[(i, j)] = (pcie, 0, pcie)
    return build(f"random-{n}-{seed}", "NVIDIA H100 80GB HBM3", 81559, numa, lambda i, j: table[(i, j)])
