"""Judge a Topology into a Report: the one seam the rules engine plugs into.

Until the rules engine lands, the status comes from link health alone: an NVLink that is down is
critical, a degraded one a warning.
"""

from __future__ import annotations

from tpdoctor.bench.result import BenchResult
from tpdoctor.findings import Report, Status
from tpdoctor.topology import LinkHealth, Topology


def link_status(topology: Topology) -> Status:
    healths = {link.health for link in topology.gpu_links()}
    if LinkHealth.DOWN in healths:
        return Status.CRITICAL
    if LinkHealth.DEGRADED in healths:
        return Status.WARNING
    return Status.OK


def report_for(topology: Topology, bench: tuple[BenchResult, ...] = ()) -> Report:
    return Report(topology=topology, bench=bench, status=link_status(topology))
