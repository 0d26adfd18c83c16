"""Build node reports in code: 8-GPU NVSwitch nodes with optional faults, for fleet tests and benchmarks."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import busbw_factor, failed, measured
from tpdoctor.model.findings import Report, Status
from tpdoctor.model.links import build_links
from tpdoctor.model.topology import Gpu, Nic, NvLinkPort, NvLinkState, Pcie, RemoteType, Topology

H100 = "NVIDIA H100 80GB HBM3"


def node(host: str, *, n: int = 8, off_switch: tuple[int, ...] = (), captured_at: str = "2026-11-21T12:00:00Z",
         uuid_prefix: str | None = None, nics: int = 2, nic_path: str | None = None) -> Report:
    """An HGX-style node; GPUs in `off_switch` have every NVLink inactive (dropped off the fabric).
    `nic_path` (e.g. SYS) puts every NIC that far from every GPU (no NIC under a GPU's PCIe switch)."""
    prefix = uuid_prefix or host
    gpus = []
    for i in range(n):
        state = NvLinkState.INACTIVE if i in off_switch else NvLinkState.ACTIVE
        ports = tuple(NvLinkPort(k, state, speed_gbps=26.562, remote_type=RemoteType.SWITCH) for k in range(18))
        gpus.append(Gpu(i, H100, uuid=f"GPU-{prefix}-{i}", pci_bus_id=f"00000000:{0x18 + i:02X}:00.0",
                        memory_mib=81559, numa_node=i // (n // 2), nvlinks=ports,
                        pcie=Pcie(gen_current=5, gen_max=5, width_current=16, width_max=16)))
    counts = {p: 18 for p in combinations(range(n), 2) if not set(p) & set(off_switch)}
    paths = {p: ("NODE" if p[0] // (n // 2) == p[1] // (n // 2) else "SYS") for p in combinations(range(n), 2)}
    nic_list = [Nic(k, name=f"mlx5_{k}") for k in range(nics)]
    nic_paths = {(g, k): nic_path or ("PIX" if g // max(1, n // nics) == k else "SYS")
                 for g in range(n) for k in range(nics)}
    links, notes = build_links(gpus, paths, counts, nics=nic_list, nic_paths=nic_paths, switch_fabric=True)
    topo = Topology(host=host, source="fixture", captured_at=captured_at, gpus=tuple(gpus),
                    nics=tuple(nic_list), links=links, probe_notes=notes)
    status = Status.CRITICAL if off_switch else Status.OK
    return Report(topology=topo, status=status)


def cross_node_results(hosts: tuple[str, ...], *, ranks_per_node: int = 1, busbw_gbps: float = 20.0,
                       sizes: tuple[int, ...] = (1 << 20, 64 << 20), label: str = "node-pairs",
                       error: str | None = None) -> tuple[BenchResult, ...]:
    """What `tpdoctor bench --nnodes` reports for a group of local rank 0 on each of `hosts` (a node pair)
    or, with label "job", every rank of every host; the largest size is the peak."""
    if label == "job":
        group = tuple(range(len(hosts) * ranks_per_node))
        member_hosts = tuple(h for h in hosts for _ in range(ranks_per_node))
        local = tuple(r % ranks_per_node for r in group)
    else:
        group = tuple(k * ranks_per_node for k in range(len(hosts)))
        member_hosts, local = hosts, tuple(0 for _ in hosts)
    out = []
    for k, size in enumerate(sizes):
        if error is not None:
            out.append(failed(group, "nccl", size, error, label=label, hosts=member_hosts))
            continue
        bw = busbw_gbps * (k + 1) / len(sizes)
        time_us = size / (bw / busbw_factor(len(group)) * 1e9) * 1e6
        out.append(replace(measured(group, "nccl", size, time_us, correct=True, iterations=20, dtype="float32",
                                    label=label, hosts=member_hosts), local_ranks=local))
    return tuple(out)
