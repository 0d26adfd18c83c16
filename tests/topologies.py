"""Topologies built in code, healthy and with one fault each, for rule tests (and anyone else's).

The shapes follow real machines: 4x H100 NVL with two NV12 bridge pairs (the canonical case), 8x H100 SXM
on NVSwitch (NV18 everywhere), 4x L4 on PCIe only, and a 72-GPU NVL72-like node. Link fields are filled
the way the link graph fills them (nvlinks, nvlinks_expected, health, pcie_path, p2p).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from tpdoctor.model.health import NOT_SUPPORTED, GpuHealth, MissingGpu, View
from tpdoctor.model.imex import Imex
from tpdoctor.model.topology import (
    Fabric,
    Gpu,
    Link,
    LinkHealth,
    NvLinkErrors,
    NvLinkPort,
    NvLinkState,
    Pcie,
    RemoteType,
    Topology,
)
from tpdoctor.model.unknown import Unknown

Pair = tuple[int, int]
# what the driver answers for a healthy Ampere-or-newer GPU (nvidia-smi -q, NVML): every scenario GPU reads this
HEALTHY = GpuHealth(source="nvidia-smi -q", remap_pending=False, remap_failed=False, remap_uncorrectable=0,
                    retired_pending=Unknown(NOT_SUPPORTED), ecc_volatile_uncorrectable=0, reset_required=False,
                    drain_recommended=False, recovery_action="none", clocks_hw_slowdown=False,
                    clocks_hw_thermal=False, clocks_hw_power_brake=False, clocks_sw_thermal=False,
                    mig_pending=False)


def _ports(n: int, active: int, remote: RemoteType, peer: int | None, errors: Mapping[int, int]) -> tuple:
    return tuple(
        NvLinkPort(link=k, state=NvLinkState.ACTIVE if k < active else NvLinkState.INACTIVE,
                   speed_gbps=26.562 if k < active else 0.0, version=4, remote_type=remote, peer=peer,
                   errors=NvLinkErrors(replay=errors.get(k, 0), recovery=0, crc_flit=0, crc_data=0))
        for k in range(n))


def h100_nvl_4gpu(*, down: Iterable[Pair] = (), degraded: Mapping[Pair, int] | None = None,
                  p2p: Mapping[Pair, str] | None = None, nvlink_errors: Mapping[int, Mapping[int, int]] | None = None,
                  pcie: Mapping[int, Pcie] | None = None, host: str = "nvl-node") -> Topology:
    """4x H100 NVL: GPU0-GPU1 and GPU2-GPU3 bridged (NV12 of 18 ports by design), the rest NODE/SYS."""
    down = set(down)
    degraded = dict(degraded or {})
    p2p = dict(p2p or {})
    nvlink_errors = dict(nvlink_errors or {})
    up = {pair: (0 if pair in down else degraded.get(pair, 12)) for pair in ((0, 1), (2, 3))}
    gpus = []
    for i in range(4):
        pair = (0, 1) if i < 2 else (2, 3)
        peer = pair[1] if i == pair[0] else pair[0]
        gpus.append(Gpu(
            index=i, name="NVIDIA H100 NVL", uuid=f"GPU-nvl-{i}", pci_bus_id=f"00000000:{0x18 + i * 0x20:02X}:00.0",
            memory_mib=95830, numa_node=0 if i < 2 else 1, nvlink_version=4,
            nvlinks=_ports(12, up[pair], RemoteType.GPU, peer, nvlink_errors.get(i, {})),
            pcie=(pcie or {}).get(i, Pcie(gen_current=5, gen_max=5, width_current=16, width_max=16, gpu_gen_max=5)),
            mig=False,
            fabric=Fabric(state="not_supported"), health=HEALTHY,
        ))
    pcie_paths = {(0, 1): "NODE", (2, 3): "NODE", (0, 2): "SYS", (0, 3): "SYS", (1, 2): "SYS", (1, 3): "SYS"}
    links = []
    for (i, j), pcie_path in pcie_paths.items():
        bridged = (i, j) in up
        n = up.get((i, j), 0)
        expected = 12 if bridged else 0
        health = (LinkHealth.OK if n == expected else LinkHealth.DOWN if n == 0 else LinkHealth.DEGRADED)
        links.append(Link(
            a=f"GPU{i}", b=f"GPU{j}", path=f"NV{n}" if n else pcie_path, nvlinks=n, nvlinks_expected=expected,
            pcie_path=pcie_path, p2p=p2p.get((i, j), "OK"), health=health,
            nominal_gbps=25.0 * n if n else 64.0,
        ))
    return Topology(host=host, source="fixture", captured_at="2026-11-21T00:00:00Z", gpus=tuple(gpus),
                    links=tuple(links), driver_version="570.124.06")


def nvswitch_node(n: int = 8, *, name: str = "NVIDIA H100 80GB HBM3", ports: int = 18,
                  fabric: Mapping[int, Fabric] | None = None, lost_ports: Mapping[int, int] | None = None,
                  mig: Iterable[int] = (), host: str = "hgx-node") -> Topology:
    """n GPUs on an NVSwitch fabric: every pair NV<ports>. A GPU whose fabric is not ready loses P2P and
    reads its ports inactive; `lost_ports` takes ports down on a GPU (its pairs degrade)."""
    fabric = dict(fabric or {})
    lost = dict(lost_ports or {})
    mig = set(mig)
    healthy_fabric = Fabric(state="completed", status="success", health="healthy", clique_id=1)
    gpus = []
    for i in range(n):
        fab = fabric.get(i, healthy_fabric)
        ready = fab.state == "completed" and fab.status == "success"
        active = 0 if (not ready or i in mig) else ports - lost.get(i, 0)
        port_list = _ports(ports, active, RemoteType.SWITCH, None, {})
        if i in mig:
            port_list = tuple(replace(p, state=NvLinkState.DISABLED) for p in port_list)
        gpus.append(Gpu(index=i, name=name, uuid=f"GPU-sw-{i}", pci_bus_id=f"00000000:{(i * 8) % 256:02X}:00.0",
                        memory_mib=81559, numa_node=0 if i < n // 2 else 1, nvlink_version=4, nvlinks=port_list,
                        pcie=Pcie(gen_current=5, gen_max=5, width_current=16, width_max=16, gpu_gen_max=5),
                        mig=i in mig, fabric=fab, health=replace(HEALTHY, mig_pending=i in mig)))
    links = []
    up = {g.index: sum(1 for p in g.nvlinks if p.state is NvLinkState.ACTIVE) for g in gpus}
    for i in range(n):
        for j in range(i + 1, n):
            k = min(up[i], up[j])
            pcie_path = "NODE" if (i < n // 2) == (j < n // 2) else "SYS"
            health = LinkHealth.OK if k == ports else LinkHealth.DOWN if k == 0 else LinkHealth.DEGRADED
            fab_ok = all(fabric.get(x, healthy_fabric).state == "completed" for x in (i, j))
            links.append(Link(a=f"GPU{i}", b=f"GPU{j}", path=f"NV{k}" if k else pcie_path, nvlinks=k,
                              nvlinks_expected=ports, pcie_path=pcie_path, p2p="OK" if fab_ok else "NS",
                              p2p_detail={"read": "OK" if fab_ok else "NS", "write": "OK" if fab_ok else "NS",
                                          "nvlink": "OK" if k else "NS"},
                              health=health, nominal_gbps=25.0 * k if k else 64.0))
    return Topology(host=host, source="fixture", captured_at="2026-11-21T00:00:00Z", gpus=tuple(gpus),
                    links=tuple(links), driver_version="570.124.06")


def nvl72(**kw: object) -> Topology:
    """A 72-GPU NVL72-like node: GB200, NV18 all-to-all through NVSwitch trays."""
    return nvswitch_node(72, name="NVIDIA GB200", host="nvl72-node", **kw)  # type: ignore[arg-type]


def l4_pcie_4gpu(*, p2p: str = "OK", host: str = "l4-node") -> Topology:
    """4x L4: no NVLink hardware at all (nvlinks_expected 0; never an NVLink finding)."""
    gpus = tuple(Gpu(index=i, name="NVIDIA L4", uuid=f"GPU-l4-{i}", pci_bus_id=f"00000000:{0x20 + i:02X}:00.0",
                     memory_mib=23034, numa_node=0,
                     pcie=Pcie(gen_current=1, gen_max=4, width_current=16, width_max=16, gpu_gen_max=4),
                     mig=False, health=HEALTHY)
                 for i in range(4))
    paths = {(0, 1): "PIX", (2, 3): "PIX", (0, 2): "PHB", (0, 3): "PHB", (1, 2): "PHB", (1, 3): "PHB"}
    links = tuple(Link(a=f"GPU{i}", b=f"GPU{j}", path=p, nvlinks=0, nvlinks_expected=0, pcie_path=p,
                       p2p=p2p if p == "PHB" else "OK", health=LinkHealth.OK, nominal_gbps=32.0)
                  for (i, j), p in paths.items())
    return Topology(host=host, source="fixture", captured_at="2026-11-21T00:00:00Z", gpus=gpus, links=links)


def hgx_a100_all_dark(host: str = "hgx-a100") -> Topology:
    """8x A100 SXM4 on NVSwitch with every NVLink port dark (fabric manager not running). A100 has no NVML
    fabric state, so only the links show it: every pair expected NV12 by the SKU, every pair down. Built
    through the real link graph (`build_links`)."""
    from tpdoctor.model.links import build_links

    gpus = [Gpu(index=i, name="NVIDIA A100-SXM4-80GB", uuid=f"GPU-a100-{i}",
                pci_bus_id=f"00000000:{0x07 + i * 0x10:02X}:00.0", memory_mib=81920, numa_node=i // 4,
                nvlink_version=3, nvlinks=_ports(12, 0, RemoteType.UNKNOWN, None, {}),
                pcie=Pcie(gen_current=4, gen_max=4, width_current=16, width_max=16, gpu_gen_max=4), mig=False,
                health=HEALTHY)
            for i in range(8)]
    paths = {(i, j): "NODE" if i // 4 == j // 4 else "SYS" for i in range(8) for j in range(i + 1, 8)}
    p2p = {pair: {"read": "OK", "write": "OK", "nvlink": "NS"} for pair in paths}
    links, notes = build_links(gpus, paths, {}, p2p=p2p)
    return Topology(host=host, source="fixture", captured_at="2026-11-21T00:00:00Z", gpus=tuple(gpus),
                    links=links, driver_version="570.124.06", probe_notes=notes)


def h100_nvl_ports_unread(host: str = "nvl-node") -> Topology:
    """The canonical 4x H100 NVL (GPU0-GPU1 not bridged, GPU2-GPU3 NV12) read from `topo -m` and
    `--query-gpu` only: no port states, so GPU0-GPU1 is "bridge missing or its links down"."""
    from tpdoctor.model.links import build_links

    why = "NVLink port states not read: nvlink-status.txt not in the capture"
    base = h100_nvl_4gpu(down=[(0, 1)], host=host)
    gpus = [replace(g, nvlinks=(), nvlinks_unread=why) for g in base.gpus]
    paths = {(0, 1): "NODE", (2, 3): "NODE", (0, 2): "SYS", (0, 3): "SYS", (1, 2): "SYS", (1, 3): "SYS"}
    p2p = {pair: {"read": "OK", "write": "OK"} for pair in paths}
    links, notes = build_links(gpus, paths, {(2, 3): 12}, p2p=p2p)
    return replace(base, gpus=tuple(gpus), links=links, probe_notes=notes)


def _without_gpu(topo: Topology, index: int) -> Topology:
    """The node as a probe sees it when a GPU is gone: its links go, and its peers' ports no longer name it
    (a port's `peer` is a *visible* GPU; the remote bus id stays)."""
    label = f"GPU{index}"
    gpus = tuple(replace(g, nvlinks=tuple(replace(p, peer=None) if p.peer == index else p for p in g.nvlinks))
                 for g in topo.gpus if g.index != index)
    return replace(topo, gpus=gpus, links=tuple(lk for lk in topo.links if label not in (lk.a, lk.b)))


def _with_gpu(topo: Topology, index: int, **changes: object) -> Topology:
    return replace(topo, gpus=tuple(replace(g, **changes) if g.index == index else g  # type: ignore[arg-type]
                                    for g in topo.gpus))


def _lost(topo: Topology, index: int) -> Topology:
    """GPU `index` fell off the bus: status lost, its ports unreadable, its links' health unknown."""
    gpus = tuple(replace(g, status="lost", status_reason="NVMLError_GpuIsLost during nvmlDeviceGetNvLinkState",
                         nvlinks=()) if g.index == index else g for g in topo.gpus)
    label = f"GPU{index}"
    links = tuple(replace(lk, nvlinks=0, path=lk.pcie_path if isinstance(lk.pcie_path, str) else "SYS",
                          health=LinkHealth.UNKNOWN) if label in (lk.a, lk.b) else lk for lk in topo.links)
    return replace(topo, gpus=gpus, links=links)


def _health(topo: Topology, index: int, **changes: object) -> Topology:
    """GPU `index` answers these health fields (model/health.py) instead of the healthy ones."""
    return replace(topo, gpus=tuple(replace(g, health=replace(HEALTHY, **changes)) if g.index == index else g  # type: ignore[arg-type]
                                    for g in topo.gpus))


def _missing(topo: Topology, index: int) -> Topology:
    """GPU `index` no longer listed: the rest keep their indices here (an NVML-style gap), and the baseline
    names it missing by bus id and UUID."""
    g = topo.gpu(index)
    gone = MissingGpu(bus_id=g.pci_bus_id, reason=f"in the baseline as {g.label}, not listed now", source="baseline",
                      uuid=g.uuid, name=g.name, baseline_index=g.index)
    return replace(_without_gpu(topo, index), missing=(gone,))


def _driver_gone(topo: Topology, said: str = "No devices were found") -> Topology:
    """nvidia-smi lists no GPU; the baseline had them all."""
    gone = tuple(MissingGpu(bus_id=g.pci_bus_id, reason=f"nvidia-smi says {said!r}; the baseline had it as "
                            f"{g.label}", source="baseline", uuid=g.uuid, name=g.name, baseline_index=g.index)
                 for g in topo.gpus)
    return replace(topo, gpus=(), links=(), missing=gone, driver_message=said)


def gb200_tray(fabric: Mapping[int, Mapping[str, object]] | None = None, imex: object = "healthy",
               host: str = "gb200-tray") -> Topology:
    """The fake-NVML GB200 NVL72 tray (IMEX answered as on a healthy tray), with fabric fields changed per GPU
    and the node's NVLink domain recomputed; `imex` may be an `Imex` record instead."""
    from tpdoctor.model.fabric import node_domain

    topo = scenario("nvml:gb200-nvl72-tray@fixtures/collect/gb200-tray-healthy")
    gpus = tuple(replace(g, fabric=replace(g.fabric, **(fabric or {}).get(g.index, {})))  # type: ignore[arg-type]
                 if g.fabric is not None else g for g in topo.gpus)
    topo = replace(topo, host=host, gpus=gpus, nvlink_domain=node_domain(gpus))
    return topo if imex == "healthy" else replace(topo, imex=imex)  # type: ignore[arg-type]


# Named scenarios used by the per-rule case folders (tests/rules/<ID>/*.yaml refer to these names).
SCENARIOS = {
    "h100-nvl-healthy": lambda: h100_nvl_4gpu(),
    "h100-nvl-gpu01-down": lambda: h100_nvl_4gpu(down=[(0, 1)]),
    "h100-nvl-gpu01-nv8": lambda: h100_nvl_4gpu(degraded={(0, 1): 8}),
    "h100-nvl-replay-errors": lambda: h100_nvl_4gpu(nvlink_errors={2: {3: 5000}}),
    "h100-nvl-replay-errors-600": lambda: h100_nvl_4gpu(nvlink_errors={2: {3: 600}}),
    "h100-nvl-gpu3-gone": lambda: _without_gpu(h100_nvl_4gpu(), 3),
    "h100-nvl-gpu1-busy-gen1": lambda: _with_gpu(h100_nvl_4gpu(pcie={1: Pcie(gen_current=1, gen_max=5, width_current=16,
                                                                            width_max=16, gpu_gen_max=5)}),
                                                 1, pstate="P0"),
    "h100-nvl-gpu3-x8": lambda: h100_nvl_4gpu(pcie={3: Pcie(gen_current=5, gen_max=5, width_current=8,
                                                           width_max=16, gpu_gen_max=5)}),
    "h100-nvl-gpu1-idle-gen1": lambda: h100_nvl_4gpu(pcie={1: Pcie(gen_current=1, gen_max=5, width_current=16,
                                                                  width_max=16, gpu_gen_max=5)}),
    "h100-nvl-p2p-ns": lambda: h100_nvl_4gpu(p2p={(0, 2): "NS"}),
    "hgx-h100-healthy": lambda: nvswitch_node(8),
    "hgx-h100-fabric-in-progress": lambda: nvswitch_node(8, fabric={5: Fabric(state="in_progress")}),
    "hgx-h100-gpu2-lost-4-ports": lambda: nvswitch_node(8, lost_ports={2: 4}),
    "hgx-h100-mig-gpu7": lambda: nvswitch_node(8, mig=[7]),
    "l4-pcie-healthy": lambda: l4_pcie_4gpu(),
    "l4-pcie-p2p-cns": lambda: l4_pcie_4gpu(p2p="CNS"),
    "l4-pcie-p2p-tns": lambda: l4_pcie_4gpu(p2p="TNS"),
    "hgx-h100-gpu3-lost": lambda: _lost(nvswitch_node(8), 3),
    "hgx-h100-gpu3-dark": lambda: nvswitch_node(8, lost_ports={3: 18}),
    "hgx-a100-all-dark": lambda: hgx_a100_all_dark(),
    "h100-nvl-ports-unread": lambda: h100_nvl_ports_unread(),
    "h100-nvl-gpu3-slot-gen3-x8": lambda: h100_nvl_4gpu(pcie={3: Pcie(gen_current=3, gen_max=3, width_current=8,
                                                                     width_max=8)}),
    "gb200-registered-no-domain": lambda: gb200_tray(
        {i: {"clique_id": 0, "cluster_uuid": "00000000-0000-0000-0000-000000000000"} for i in range(4)}),
    "gb200-split-clique": lambda: gb200_tray({3: {"clique_id": 4026}}),
    "gb200-imex-masked": lambda: gb200_tray(imex=Imex(service="inactive", enabled="masked")),
    # what the driver says beyond the links (issue 20): missing GPUs, -q health, MIG, a container's view
    "h100-nvl-gpu3-missing": lambda: _missing(h100_nvl_4gpu(), 3),
    "hgx-h100-driver-gone": lambda: _driver_gone(nvswitch_node(8)),
    "h100-nvl-gpu2-inforom": lambda: _health(h100_nvl_4gpu(), 2, inforom_corrupted=True),
    "hgx-h100-gpu1-mig-pending": lambda: _health(nvswitch_node(8), 1, mig_pending=True),
    "h100-nvl-gpu0-remap-pending": lambda: _health(h100_nvl_4gpu(), 0, remap_pending=True, remap_uncorrectable=2),
    "h100-nvl-gpu0-remap-failed": lambda: _health(h100_nvl_4gpu(), 0, remap_pending=True, remap_failed=True,
                                                  remap_uncorrectable=8),
    "h100-nvl-gpu1-ecc-uncorrectable": lambda: _health(h100_nvl_4gpu(), 1, ecc_volatile_uncorrectable=2),
    "h100-nvl-gpu3-retired-pending": lambda: _health(h100_nvl_4gpu(), 3, retired_pending=True),
    "h100-nvl-gpu2-reset-required": lambda: _health(h100_nvl_4gpu(), 2, reset_required=True, drain_recommended=True,
                                                    recovery_action="gpu_reset"),
    "h100-nvl-gpu2-drain": lambda: _health(h100_nvl_4gpu(), 2, drain_recommended=True,
                                           recovery_action="drain_and_reset"),
    "hgx-h100-gpu5-power-brake": lambda: _health(nvswitch_node(8), 5, clocks_hw_slowdown=True,
                                                 clocks_hw_power_brake=True),
    "h100-nvl-container-subset": lambda: replace(h100_nvl_4gpu(), view=View(
        "subset", "NVIDIA_VISIBLE_DEVICES=GPU-nvl-0,GPU-nvl-1,GPU-nvl-2,GPU-nvl-3: a container given 4 GPU(s)",
        ("GPU-nvl-0", "GPU-nvl-1", "GPU-nvl-2", "GPU-nvl-3"))),
}


def scenario(name: str) -> Topology:
    """A named scenario below, or `nvml:<fixture>` (fixtures/nvml/<fixture>.yaml read by the real NVML probe
    over the fake library), or `replay:<path>` (a capture under the repository, replayed)."""
    if name.startswith("nvml:"):  # `nvml:<fixture>@<collect dir>`: IMEX answered from that directory
        from tests.fakeimex import imex_files, imex_runner
        from tests.fakenvml import load
        from tpdoctor.probes import imex
        from tpdoctor.probes.nvml import probe_nvml

        fixture, _, imex_dir = name[5:].partition("@")
        topo = probe_nvml(load(fixture), host=fixture)
        if imex_dir:
            d = Path(__file__).resolve().parents[1] / imex_dir
            topo = imex.attach(topo, imex_runner(d), timeout_seconds=5, read_file=imex_files(d))[0]
        return topo
    if name.startswith("replay:"):
        from tpdoctor.probes.replay import load as replay

        return replay(Path(__file__).resolve().parents[1] / name[7:])
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None
