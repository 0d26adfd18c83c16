"""Node-scope facts about the NVSwitch fabric, the multi-node NVLink domain and IMEX (rules TPD105,
TPD120-TPD124), merged into the `gpu` and `node` subjects of `node/facts.py`.

The judgements themselves are `model/fabric.py` (registration, health problems, the node's domain) and
`model/imex.py` (IMEX ready / not ready / off); this module only lays them out as documented facts.
"""

from __future__ import annotations

from typing import Any

from tpdoctor.engine.schema import INT, B, Fact, L, S
from tpdoctor.model import fabric
from tpdoctor.model.imex import imex_state
from tpdoctor.model.topology import Gpu, Topology
from tpdoctor.model.unknown import Unknown

SWITCH_TRAYS = "the rack's NVLink switch trays (NVLSM, fabric manager and NMX-Controller run in NVOS there)"
ON_NODE = "nvidia-fabricmanager on this node (and NVLSM on NVLink5 HGX systems)"

GPU_FABRIC_FACTS: dict[str, Fact] = {
    "fabric_manager": Fact(S, "Who registers this GPU with the fabric: the NVLink switch trays on GB200/GB300 "
                           "NVL racks, nvidia-fabricmanager on the node elsewhere; null off-fabric.", True),
    "fabric_cluster_uuid": Fact(S, "Fabric ClusterUUID (all zeros on single-node NVSwitch systems).", True),
    "fabric_clique_id": Fact(INT, "Fabric CliqueId: the NVLink partition inside the cluster.", True),
    "fabric_domain": Fact(S, "The multi-node NVLink domain `<ClusterUUID>.<CliqueId>` (GFD's nvidia.com/gpu.clique) "
                          "when registered in one; null otherwise.", True),
    "fabric_healthy": Fact(B, "Registered, and no health field the driver reports shows a problem; null "
                           "off-fabric.", True),
    "fabric_problems": Fact(L, "Serious fabric health problems: summary unhealthy, route unhealthy, incorrect "
                            "configuration, no partition, global fabric manager disconnected."),
    "fabric_warnings": Fact(L, "Partial or transient ones: limited capacity, bandwidth degraded, route or "
                            "access-timeout recovery in progress."),
}

NODE_FABRIC_FACTS: dict[str, Fact] = {
    "nvlink_domain": Fact(S, "The node's multi-node NVLink domain (`<ClusterUUID>.<CliqueId>`); null when it is in "
                          "none, or its GPUs disagree.", True),
    "nvlink_domains": Fact(L, "Distinct domains the node's registered GPUs name (more than one: split)."),
    "nvlink_domain_expected": Fact(B, "GB200/GB300 GPUs: built to sit in a multi-node NVLink domain."),
    "fabric_registered": Fact(INT, "GPUs whose fabric registration completed with success."),
    "fabric_without_domain": Fact(INT, "Of those, GPUs whose ClusterUUID reads all zeros (in no multi-node "
                                  "domain; normal on single-node NVSwitch systems)."),
    "imex_state": Fact(S, "IMEX here: ready, not_ready or off (disabled/masked on purpose, e.g. Kubernetes "
                       "ComputeDomains); null when the node is in no (known) multi-node domain, or IMEX was not "
                       "collected (nothing is claimed about it then); unknown when collected but unreadable.",
                       True),
    "imex_detail": Fact(S, "What was read: service, daemon (-q) and domain (-N) states, nodes not READY.", True),
}


def gpu_fabric(g: Gpu) -> dict[str, Any]:
    f = g.fabric
    if f is None:
        return {"fabric_manager": None, "fabric_cluster_uuid": None, "fabric_clique_id": None,
                "fabric_domain": None, "fabric_healthy": None, "fabric_problems": [], "fabric_warnings": []}
    serious, transient = fabric.health_problems(f)
    on_fabric = f.state != "not_supported"
    return {
        "fabric_manager": (SWITCH_TRAYS if fabric.expects_domain(g.name) else ON_NODE) if on_fabric else None,
        "fabric_cluster_uuid": f.cluster_uuid,
        "fabric_clique_id": f.clique_id,
        "fabric_domain": fabric.domain_of(f),
        "fabric_healthy": fabric.healthy(f),
        "fabric_problems": list(serious),
        "fabric_warnings": list(transient),
    }


def node_fabric(topology: Topology) -> dict[str, Any]:
    domains = sorted({d for g in topology.gpus if g.status == "ok" and (d := fabric.domain_of(g.fabric))})
    expected = any(fabric.expects_domain(g.name) for g in topology.gpus)
    in_domain = isinstance(topology.nvlink_domain, str) or len(domains) == 1  # judged once it is in one
    imex: Any = None
    detail: Any = None
    if in_domain and topology.imex is not None:  # not collected (an NVML snapshot): the verdict claims nothing
        state, detail = imex_state(topology.imex)
        imex = Unknown(detail) if state == "unknown" else state
    return {
        "nvlink_domain": domains[0] if len(domains) == 1 else None,
        "nvlink_domains": domains,
        "nvlink_domain_expected": expected,
        "fabric_registered": sum(1 for g in topology.gpus if g.status == "ok" and fabric.registered(g.fabric)),
        "fabric_without_domain": sum(1 for g in topology.gpus if g.status == "ok" and fabric.without_domain(g.fabric)),
        "imex_state": imex,
        "imex_detail": detail,
    }
