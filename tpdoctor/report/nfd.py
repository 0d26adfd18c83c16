"""Node labels for Kubernetes: a node-feature-discovery (NFD) local feature file, a pure renderer.

NFD's local source reads every file in `/etc/kubernetes/node-feature-discovery/features.d/` (dot-files are
ignored, a file over 64 KiB is ignored) and turns each `<namespace>/<name>=<value>` line into a node label;
`#` lines are comments, and `# +expiry-time=<RFC 3339>` makes the lines after it expire at that time
(kubernetes-sigs/node-feature-discovery, docs/usage/customization-guide.md "Local feature source", and
source/local/local.go: DirectivePrefix "# +", MaxFeatureFileSize 65536). Label names and values follow the
Kubernetes rules NFD enforces: a value is at most 63 characters of [A-Za-z0-9-_.], beginning and ending
with an alphanumeric. The `tpdoctor.io/` namespace is allowed by default (NFD denies only kubernetes.io
and its sub-namespaces unless `denyLabelNs` says otherwise).

Labels, for a pod's nodeAffinity (deploy/kubernetes/):
- `tpdoctor.io/status`: ok, warning, critical or unknown: the node's verdict;
- `tpdoctor.io/nvlink.healthy-group`: GPUs in the largest group joined by healthy NVLinks (1: no healthy
  pair), e.g. `Gt 1` keeps TP=2 off nodes without a healthy NVLink pair;
- `tpdoctor.io/nvlink.links-down`: GPU pairs whose expected NVLinks are down or degraded;
- `tpdoctor.io/gpus.broken` and `tpdoctor.io/gpus.broken-ids` (`0_3`): GPUs lost, or with a fabric that is
  not ready or unhealthy (a critical finding about the GPU itself);
- `tpdoctor.io/nvlink.domain`: the multi-node NVLink domain, `<ClusterUUID>.<CliqueId>` (the value GFD puts
  in `nvidia.com/gpu.clique`), only when the node is in one; `tpdoctor.io/nvlink.fabric`: ok, degraded,
  unhealthy, not-ready or none; `tpdoctor.io/imex`: ready, not-ready or off, in a domain;
- `tpdoctor.io/checked`: Unix time of the run.
When the probe failed only `status=unknown` and `checked` are written: every other label disappears, so
affinity on them keeps pods away. The expiry makes all of them vanish if tpdoctor stops running.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from tpdoctor import __version__
from tpdoctor.model import fabric
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.model.imex import imex_state
from tpdoctor.model.safetext import clean
from tpdoctor.model.topology import LinkHealth, Topology, healthy_nvlink_groups

PREFIX = "tpdoctor.io/"
DEFAULT_FILE = "/etc/kubernetes/node-feature-discovery/features.d/tpdoctor"
DEFAULT_EXPIRY_SECONDS = 3600
MAX_BYTES = 65536  # NFD ignores a larger feature file
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_GPU_SUBJECT = re.compile(r"^GPU(\d+)$")


def valid_value(value: str) -> bool:
    return len(value) <= 63 and bool(_VALUE.match(value))


def largest_healthy_group(topo: Topology, broken: set[int]) -> int:
    """GPUs in the largest connected group over healthy NVLink pairs (1 when no pair is healthy, 0 without
    usable GPUs)."""
    return max((len(g) for g in healthy_nvlink_groups(topo, broken)), default=0)


def broken_gpus(report: Report) -> list[int]:
    """GPUs not read (lost, error) or named by an active critical finding about the GPU itself."""
    out = {g.index for g in report.topology.gpus if g.status != "ok"}
    for f in report.findings:
        m = _GPU_SUBJECT.match(f.subject)
        if m and f.active and f.severity is Severity.CRITICAL:
            out.add(int(m.group(1)))
    return sorted(out)


def fabric_label(topo: Topology) -> str:
    states = [g.fabric for g in topo.gpus if g.status == "ok" and g.fabric is not None
              and g.fabric.state != "not_supported"]
    if not states:
        return "none"
    if any(fabric.registered(f) is False for f in states):
        return "not-ready"
    problems = [fabric.health_problems(f) for f in states]
    if any(serious for serious, _ in problems):
        return "unhealthy"
    if any(transient for _, transient in problems):
        return "degraded"
    return "ok"


def labels(report: Report | None, status: Status, *, now: float) -> dict[str, str]:
    """The labels (name without the prefix -> value) for one health run; `report` None: the probe failed."""
    out = {"status": status.value}
    if report is not None:
        topo = report.topology
        broken = broken_gpus(report)
        out["nvlink.healthy-group"] = str(largest_healthy_group(topo, set(broken)))
        out["nvlink.links-down"] = str(sum(1 for lk in topo.gpu_links()
                                           if lk.health in (LinkHealth.DOWN, LinkHealth.DEGRADED)))
        out["gpus.broken"] = str(len(broken))
        if broken:
            out["gpus.broken-ids"] = "_".join(str(i) for i in broken)
        out["nvlink.fabric"] = fabric_label(topo)
        if isinstance(topo.nvlink_domain, str):
            out["nvlink.domain"] = topo.nvlink_domain
            out["imex"] = imex_state(topo.imex)[0].replace("_", "-")
    out["checked"] = str(int(now))
    return out


def render(report: Report | None, status: Status, *, now: float,
           expiry_seconds: int = DEFAULT_EXPIRY_SECONDS) -> str:
    """The feature file's text. A value that breaks the label rules is left out with a comment saying so."""
    stamp = datetime.fromtimestamp(int(now), timezone.utc)
    expiry = datetime.fromtimestamp(int(now) + expiry_seconds, timezone.utc)
    host = report.topology.host if report is not None else "this node"
    lines = [f"# tpdoctor {__version__} health of {host} at {_rfc3339(stamp)}: node labels for "
             "node-feature-discovery's local source",
             "# format: kubernetes-sigs/node-feature-discovery docs/usage/customization-guide.md (features.d)",
             f"# +expiry-time={_rfc3339(expiry)}"]
    for name, value in labels(report, status, now=now).items():
        if valid_value(value):
            lines.append(f"{PREFIX}{name}={value}")
        else:
            lines.append(f"# {PREFIX}{name} left out: {value[:60]!r} is not a valid label value")
    text = "\n".join(clean(line, 1000) for line in lines) + "\n"  # a newline in a host name adds no line
    if len(text.encode()) > MAX_BYTES:  # cannot happen with these labels; NFD would ignore the whole file
        raise ValueError(f"NFD feature file would be {len(text.encode())} bytes, over NFD's {MAX_BYTES}")
    return text


def _rfc3339(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")
