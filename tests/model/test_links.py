"""Expected-link inference: SKU, symmetry and baseline evidence; never a false NVLink-down on PCIe GPUs."""

from __future__ import annotations

from itertools import combinations

from tpdoctor.model.links import build_links
from tpdoctor.model.topology import Gpu, LinkHealth, NvLinkPort, NvLinkState, Pcie, RemoteType, Topology
from tpdoctor.model.unknown import Unknown


def gpu(i: int, name: str, active: int = 0, inactive: int = 0, **kw: object) -> Gpu:
    ports = tuple(NvLinkPort(k, NvLinkState.ACTIVE) for k in range(active))
    ports += tuple(NvLinkPort(active + k, NvLinkState.INACTIVE) for k in range(inactive))
    return Gpu(i, name, nvlinks=ports, **kw)  # type: ignore[arg-type]


def all_pairs(n: int, path: str) -> dict[tuple[int, int], str]:
    return {p: path for p in combinations(range(n), 2)}


def by_pair(links):  # type: ignore[no-untyped-def]
    return {lk.indices: lk for lk in links if lk.is_gpu_pair}


def test_canonical_h100_nvl_broken_bridge_pair_is_down_with_pcie_path() -> None:
    name = "NVIDIA H100 NVL"
    gpus = [gpu(0, name, 0, 18), gpu(1, name, 0, 18), gpu(2, name, 12, 6), gpu(3, name, 12, 6)]
    paths = {(0, 1): "NODE", (0, 2): "SYS", (0, 3): "SYS", (1, 2): "SYS", (1, 3): "SYS", (2, 3): "NODE"}
    links, notes = build_links(gpus, paths, {(2, 3): 12})
    lk = by_pair(links)
    assert lk[(0, 1)].health is LinkHealth.DOWN
    assert lk[(0, 1)].path == "NODE" and lk[(0, 1)].nvlinks == 0 and lk[(0, 1)].nvlinks_expected == 12
    assert lk[(0, 1)].evidence["expected_from"] == "symmetry:bridge-pairs"
    assert lk[(2, 3)].health is LinkHealth.OK and lk[(2, 3)].path == "NV12"
    assert lk[(2, 3)].nominal_gbps == 300.0  # 12 links x 25 GB/s per direction
    assert lk[(0, 1)].nominal_gbps == 63.0  # PCIe Gen5 x16 from the SKU
    assert all(lk[p].health is LinkHealth.OK for p in [(0, 2), (0, 3), (1, 2), (1, 3)])
    assert any("GPU0 and GPU1" in n for n in notes)


def test_unbridged_bridge_skus_expect_nothing() -> None:
    name = "NVIDIA H100 PCIe"
    gpus = [gpu(i, name, 0, 18) for i in range(4)]
    links, notes = build_links(gpus, all_pairs(4, "PHB"), {})
    assert {lk.health for lk in links} == {LinkHealth.OK}
    assert not notes


def test_pcie_only_gpus_never_nvlink_down() -> None:
    gpus = [Gpu(i, "NVIDIA GeForce RTX 4090") for i in range(8)]
    links, _ = build_links(gpus, all_pairs(8, "SYS"), {})
    assert {lk.health for lk in links} == {LinkHealth.OK}
    assert {lk.nvlinks_expected for lk in links} == {0}


def test_nvswitch_fabric_down_every_pair_down_by_sku() -> None:
    gpus = [gpu(i, "NVIDIA H100 80GB HBM3", 0, 18) for i in range(8)]
    links, _ = build_links(gpus, all_pairs(8, "SYS"), {})
    assert {lk.health for lk in links} == {LinkHealth.DOWN}
    assert {lk.nvlinks_expected for lk in links} == {18}


def test_one_gpu_off_the_switch_by_symmetry_without_names() -> None:
    gpus = [Gpu(i, "unknown") for i in range(8)]
    counts = {p: 18 for p in combinations(range(8), 2) if 2 not in p}
    links, _ = build_links(gpus, all_pairs(8, "NODE"), counts)
    down = {lk.indices for lk in links if lk.health is LinkHealth.DOWN}
    assert down == {p for p in combinations(range(8), 2) if 2 in p}


def test_one_link_of_twelve_down_on_nvswitch_is_degraded() -> None:
    gpus = [gpu(i, "NVIDIA A100-SXM4-80GB", 11 if i == 3 else 12, 1 if i == 3 else 0) for i in range(8)]
    counts = {p: (11 if 3 in p else 12) for p in combinations(range(8), 2)}
    links, _ = build_links(gpus, all_pairs(8, "SYS"), counts, switch_fabric=True)
    lk = by_pair(links)
    assert lk[(0, 3)].health is LinkHealth.DEGRADED and lk[(0, 3)].path == "NV11"
    assert lk[(0, 1)].health is LinkHealth.OK


def test_v100_cube_mesh_is_not_read_as_all_to_all() -> None:
    # DGX-1 hybrid cube-mesh: 16 of 28 pairs on NVLink, NV1/NV2 mixed.
    mesh = {(0, 1): 1, (0, 2): 1, (0, 3): 2, (0, 4): 2, (1, 2): 2, (1, 3): 1, (1, 5): 2, (2, 3): 2,
            (2, 6): 1, (3, 7): 1, (4, 5): 1, (4, 6): 1, (4, 7): 2, (5, 6): 2, (5, 7): 1, (6, 7): 2}
    gpus = [gpu(i, "Tesla V100-SXM2-32GB", 6) for i in range(8)]
    links, _ = build_links(gpus, all_pairs(8, "SYS"), mesh)
    assert {lk.health for lk in links} == {LinkHealth.OK}


def test_baseline_expectation_wins() -> None:
    gpus = [Gpu(i, "unknown") for i in range(2)]
    before, _ = build_links(gpus, {(0, 1): "PHB"}, {(0, 1): 4})
    base = Topology(host="h", source="fixture", captured_at="t", gpus=tuple(gpus), links=before)
    after, _ = build_links(gpus, {(0, 1): "PHB"}, {}, baseline=base)
    assert after[0].health is LinkHealth.DOWN and after[0].evidence["expected_from"] == "baseline"


def test_lost_gpu_links_are_unknown_and_switch_remote_detected() -> None:
    ports = tuple(NvLinkPort(k, NvLinkState.ACTIVE, remote_type=RemoteType.SWITCH) for k in range(12))
    gpus = [Gpu(0, "NVIDIA A100-SXM4-80GB", nvlinks=ports), Gpu(1, "NVIDIA A100-SXM4-80GB", status="lost")]
    links, _ = build_links(gpus, {(0, 1): "SYS"}, {})
    assert links[0].health is LinkHealth.UNKNOWN


def test_pcie_x8_halves_nominal_and_unknown_path_is_assumed_sys() -> None:
    slow = Pcie(gen_max=4, width_current=8)
    gpus = [Gpu(0, "NVIDIA L40S", pcie=slow), Gpu(1, "NVIDIA L40S")]
    links, notes = build_links(gpus, {(0, 1): Unknown("NVMLError_NotSupported")}, {(0, 1): 0})
    assert links[0].path == "SYS" and "path_assumed" in links[0].evidence and notes
    assert links[0].health is LinkHealth.OK  # the NVLink count was read (0): only the PCIe path is assumed
    assert links[0].nominal_gbps == 15.75
