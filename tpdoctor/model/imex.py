"""NVIDIA IMEX on one node: the service that lets GPUs of different nodes of one NVLink domain import and
export each other's memory (CUDA fabric handles; NCCL/NVSHMEM across GB200 NVL72 trays need it).

What `tpdoctor collect` (and a live probe of a node in a multi-node NVLink domain) reads, as plain data:
`systemctl is-active` / `is-enabled nvidia-imex`, `nvidia-imex-ctl -q` (this node's daemon), `nvidia-imex-ctl
-N -j` (the IMEX domain as the daemon sees it) and the node list (`/etc/nvidia-imex/nodes_config.cfg`).
Vocabulary is the tools' own (READY, UP, DEGRADED ...); sources in docs/nvlink-domains.md.

On Kubernetes with NVIDIA's DRA driver (ComputeDomains) the host service is disabled or masked on purpose
and IMEX runs in per-job pods: `imex_state` calls that `off`, not broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.model.unknown import Maybe, Unknown

DAEMON_READY = "READY"
DOMAIN_UP = "UP"
OFF_ON_PURPOSE = ("disabled", "masked")  # systemctl is-enabled


@dataclass(frozen=True)
class ImexNode:
    """One row of `nvidia-imex-ctl -N`: a node of the IMEX domain as this node's daemon sees it."""

    index: int
    host: str  # IP address or name, as in nodes_config.cfg
    status: str  # READY, UNAVAILABLE, ...
    version: str | None = None  # driver version of that node's daemon (newer builds print it)


@dataclass(frozen=True)
class Imex:
    service: Maybe[str] = Unknown("not read")  # systemctl is-active: active, inactive, failed, activating
    enabled: Maybe[str] = Unknown("not read")  # systemctl is-enabled: enabled, disabled, masked, not-found
    daemon: Maybe[str] = Unknown("not read")  # nvidia-imex-ctl -q: READY, WAITING_FOR_PEERS, ...
    domain: Maybe[str] = Unknown("not read")  # nvidia-imex-ctl -N: UP, DOWN or DEGRADED
    nodes: tuple[ImexNode, ...] = ()  # the domain's nodes (-N)
    not_connected: tuple[str, ...] = ()  # connections that are not C/CONNECTED, e.g. "0→3 N"
    config_nodes: Maybe[tuple[str, ...]] = Unknown("not read")  # nodes_config.cfg, in file order


def imex_state(imex: Imex | None) -> tuple[str, str]:
    """(ready | not_ready | off | unknown, what was seen) for one node's IMEX.

    `off`: the service is disabled or masked and not running (IMEX run elsewhere, e.g. Kubernetes
    ComputeDomains, or not used). `not_ready`: a service that should run does not, the daemon is not READY,
    or the domain is DOWN/DEGRADED. `ready` needs the daemon READY and the domain UP, both read."""
    if imex is None:
        return "unknown", "IMEX not collected"
    seen = []
    for name, value in (("service", imex.service), ("enabled", imex.enabled), ("daemon", imex.daemon),
                        ("domain", imex.domain)):
        if isinstance(value, str):
            seen.append(f"{name} {value}")
    detail = ", ".join(seen) or "nothing readable"
    if imex.enabled in OFF_ON_PURPOSE and imex.service != "active":
        return "off", detail
    if imex.enabled == "not-found" and imex.service != "active":
        return "off", detail + " (nvidia-imex not installed)"
    bad = [imex.service == "failed", imex.enabled == "enabled" and imex.service == "inactive",
           isinstance(imex.daemon, str) and imex.daemon != DAEMON_READY,
           isinstance(imex.domain, str) and imex.domain != DOMAIN_UP]
    if any(bad):
        down = [n.host for n in imex.nodes if n.status != DAEMON_READY]
        if down:
            detail += f"; nodes not READY: {', '.join(down)}"
        if imex.not_connected:
            detail += f"; not connected: {', '.join(imex.not_connected[:6])}"
        return "not_ready", detail
    if imex.daemon == DAEMON_READY and imex.domain == DOMAIN_UP:
        return "ready", detail
    return "unknown", detail
