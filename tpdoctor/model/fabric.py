"""Judgements over a GPU's NVSwitch fabric facts, and the multi-node NVLink domain they put a node in.

Sources (details and quotes in docs/nvlink-domains.md):
- NVML `nvmlDeviceGetGpuFabricInfoV` (docs/nvml.md, fabric): `state` NOT_SUPPORTED 0 / NOT_STARTED 1 /
  IN_PROGRESS 2 / COMPLETED 3; `status` (an nvmlReturn) is meaningful only when COMPLETED; `healthMask`
  packs 2-bit fields where 1 = TRUE (a problem) and 2 = FALSE (fine): 0x0aa is a healthy GB200.
- GPUs talk over multi-node NVLink iff they share (clusterUuid, cliqueId) (NVIDIA/nccl#1301: "clique ID by
  itself is not unique"); the key `<uuid>.<clique>` is GFD's `nvidia.com/gpu.clique`. An all-zero UUID
  with clique 0 is what single-node NVSwitch systems (HGX H100) report: no multi-node domain, never a
  shared one (meta-pytorch/torchcomms#1385).
- GB200/GB300 NVL72 trays are built to sit in one: registered with a zero UUID or clique 0 there is a
  failure (Azure/azhpc-images#506).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tpdoctor.model.topology import Fabric, Gpu
from tpdoctor.model.unknown import Maybe, Unknown

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
MNNVL_PRODUCTS = ("GB200", "GB300")  # GPUs built into multi-node NVLink racks (NVL72, NVL36x2)
SUCCESS = ("success", "NVML_SUCCESS", "ok")

# healthMask layout: name -> (shift, width); values as NVML's NVML_GPU_FABRIC_HEALTH_MASK_* constants
HEALTH_FIELDS = {"bandwidth": (0, 0x3), "route_recovery": (2, 0x3), "route_unhealthy": (4, 0x3),
                 "access_timeout_recovery": (6, 0x3), "incorrect_configuration": (8, 0xF),
                 "partition_assigned": (12, 0x3), "gfm": (14, 0x3)}
INCORRECT_CONFIGURATION = {1: "none", 2: "incorrect_sysguid", 3: "incorrect_chassis_sn", 4: "no_partition",
                           5: "insufficient_nvlinks", 6: "incompatible_gpu_fw", 7: "invalid_location",
                           8: "gpu_state_invalid"}
_NOT_SUPPORTED = "not supported by this GPU or driver"


def decode_health_mask(mask: int) -> dict[str, Any]:
    """NVML healthMask -> the Fabric health fields (Unknown where a field reads 0, "not supported")."""
    out: dict[str, Any] = {}
    for name, (shift, width) in HEALTH_FIELDS.items():
        v = (mask >> shift) & width
        if v == 0:
            out[name] = Unknown(_NOT_SUPPORTED)
        elif name == "incorrect_configuration":
            out[name] = INCORRECT_CONFIGURATION.get(v, Unknown(f"value {v}"))
        elif v not in (1, 2):
            out[name] = Unknown(f"value {v}")
        elif name == "bandwidth":
            out[name] = "degraded" if v == 1 else "full"
        elif name == "gfm":
            out[name] = "connected" if v == 1 else "disconnected"
        else:
            out[name] = v == 1  # 1 = TRUE
    return out


def registered(f: Fabric | None) -> bool | None:
    """True: registration completed with success; False: on a fabric but not (yet); None: no fabric."""
    if f is None or f.state == "not_supported":
        return None
    return f.state == "completed" and f.status in SUCCESS


def health_problems(f: Fabric | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(serious, transient) health problems of a registered GPU, in words; empty when none is reported.

    Serious: summary unhealthy, route unhealthy, an incorrect configuration, no partition assigned, the
    global fabric manager disconnected. Transient or partial: limited capacity, bandwidth degraded, route
    or access-timeout recovery in progress (DCGM fails them all; gpud counts them as issues)."""
    if f is None:
        return (), ()
    serious: list[str] = []
    transient: list[str] = []
    if f.health == "unhealthy":
        serious.append("health summary unhealthy")
    if f.route_unhealthy is True:
        serious.append("route unhealthy")
    if isinstance(f.incorrect_configuration, str) and f.incorrect_configuration != "none":
        serious.append(f"incorrect configuration ({f.incorrect_configuration})")
    if f.partition_assigned is False:
        serious.append("no NVLink partition assigned")
    if f.gfm == "disconnected":
        serious.append("global fabric manager disconnected")
    if f.health == "limited_capacity":
        transient.append("health summary limited capacity")
    if f.bandwidth == "degraded":
        transient.append("bandwidth degraded")
    if f.route_recovery is True:
        transient.append("route recovery in progress")
    if f.access_timeout_recovery is True:
        transient.append("access timeout recovery in progress")
    return tuple(serious), tuple(transient)


def healthy(f: Fabric | None) -> bool | None:
    """Registered and no health problem reported; None when the GPU has no fabric."""
    ok = registered(f)
    if ok is not True:
        return ok
    serious, transient = health_problems(f)
    return not serious and not transient


def describe(f: Fabric | None) -> str | None:
    """The fabric in words: state, status when completed, and any health problem."""
    if f is None:
        return None
    text = f.state.replace("_", " ")
    if f.state == "completed" and isinstance(f.status, str):
        text += f", status {f.status}"
    serious, transient = health_problems(f)
    if serious or transient:
        text += "; " + ", ".join((*serious, *transient))
    return text


def domain_of(f: Fabric | None) -> str | None:
    """`<clusterUuid>.<cliqueId>` of a registered GPU in a multi-node domain; None otherwise."""
    if registered(f) is not True or f is None:
        return None
    uuid, clique = f.cluster_uuid, f.clique_id
    if not isinstance(uuid, str) or not isinstance(clique, int) or uuid.lower() == ZERO_UUID:
        return None
    return f"{uuid.lower()}.{clique}"


def without_domain(f: Fabric | None) -> bool:
    """Registered with success, and the ClusterUUID reads all zeros: in no multi-node domain."""
    return registered(f) is True and f is not None and isinstance(f.cluster_uuid, str) and \
        f.cluster_uuid.lower() == ZERO_UUID


def expects_domain(name: str) -> bool:
    """A GPU product built for multi-node NVLink racks (GB200/GB300 NVL72 trays)."""
    return any(p in name.upper() for p in MNNVL_PRODUCTS)


def node_domain(gpus: Iterable[Gpu]) -> Maybe[str] | None:
    """The node's multi-node NVLink domain: the one id its registered GPUs share.

    None when no GPU is in one and none is expected to be (HGX, PCIe, no fabric); Unknown when GPUs of
    one node name different domains, or when a GB200/GB300 node's fabric is not registered (yet), or is
    registered without a domain: the node belongs somewhere, and we cannot say where."""
    ids: dict[str, list[int]] = {}
    pending: list[str] = []
    unread: list[str] = []
    expected = without = False
    for g in gpus:
        if g.fabric is None or g.status != "ok":
            continue
        expected = expected or expects_domain(g.name)
        d = domain_of(g.fabric)
        state = registered(g.fabric)
        if d is not None:
            ids.setdefault(d, []).append(g.index)
        elif state is False:
            pending.append(f"GPU{g.index} {describe(g.fabric)}")
        elif state is True and isinstance(g.fabric.cluster_uuid, str):
            without = True  # registered, and the UUID reads all zeros
        elif state is True:
            unread.append(f"GPU{g.index}")
    if len(ids) == 1:
        return next(iter(ids))
    if len(ids) > 1:
        parts = "; ".join(f"{d} ({'+'.join(f'GPU{i}' for i in idx)})" for d, idx in sorted(ids.items()))
        return Unknown(f"GPUs of this node name different NVLink domains: {parts}")
    if expected and pending:
        return Unknown(f"fabric not registered: {', '.join(pending[:4])}")
    if expected and without:
        return Unknown("fabric registered without a multi-node domain (all-zero ClusterUUID)")
    if expected and unread:
        return Unknown(f"ClusterUUID not read ({', '.join(unread)}): the driver does not report it")
    return None
