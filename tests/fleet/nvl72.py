"""GB200 NVL72 tray reports for fleet tests and fixtures: the fake-NVML tray machines (fixtures/nvml/gb200-*.yaml)
read by the real NVML probe, placed in a rack (ClusterUUID) and partition (CliqueId), judged by the node rules,
with IMEX as the tray's collect directory holds it."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone

from tests.fakenvml import FIXTURES, load
from tests.fakenvml.machine import load_machine
from tpdoctor.model.findings import Report
from tpdoctor.model.imex import Imex, ImexNode
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.nvml import probe_nvml

RACK_A = "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4"  # a real GB200 rack's ClusterUUID (sirius-db/sirius capture)
RACK_B = "7b968a6d-c8aa-45e1-9e07-e1e51be99c31"  # the example in GFD's README (nvidia.com/gpu.clique)
CAPTURED = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def rack_hosts(prefix: str, n: int = 18) -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(1, n + 1)]


def imex_ready(hosts: list[str]) -> Imex:
    """IMEX as a healthy tray reports it: service active, daemon READY, domain UP, every node READY."""
    nodes = tuple(ImexNode(i, h, "READY", "580.105") for i, h in enumerate(hosts))
    return Imex(service="active", enabled="enabled", daemon="READY", domain="UP", nodes=nodes,
                config_nodes=tuple(hosts))


def tray(host: str, *, cluster: str = RACK_A, clique: int = 32766, fixture: str = "gb200-nvl72-tray",
         imex: Imex | None = None) -> Report:
    """One tray's report (node rules judged). Registered GPUs get the rack's cluster and clique; a fixture
    whose fabric is not registered keeps its zeros."""
    machine = load_machine(FIXTURES / f"{fixture}.yaml")
    for g in machine.gpus:
        digest = hashlib.sha1(f"{host}:{g.bus_id}".encode()).hexdigest()
        g.uuid = f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        fab = g.fabric
        if fab is not None and fab["state"] == 3 and fab["status"] == 0:
            fab["cluster_uuid"] = bytes.fromhex(cluster.replace("-", ""))
            fab["clique_id"] = clique
    topo = probe_nvml(load(machine), host=host, now=lambda: CAPTURED)
    topo = replace(topo, imex=imex, probe_duration_seconds=None)
    return report_for(topo)
