"""node_exporter textfile-collector metrics for one health run: a pure renderer (text in, text out).

Names follow Prometheus conventions: `tpdoctor_` prefix, base units (seconds, bytes per second), `_total`
only on counters, snake_case labels. Per-link series carry `gpu_a`/`gpu_b` labels in topo -m order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tpdoctor.model.coverage import coverage
from tpdoctor.model.findings import Report, Severity, Status
from tpdoctor.model.topology import CheckState, LinkHealth

STATUS_VALUE = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}


def _esc(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, object], float]]) -> None:
        samples = list(samples)
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {_num(value)}")


def render(report: Report | None, *, probe_success: bool, probe_duration_seconds: float, status: Status,
           timestamp_seconds: float) -> str:
    """All metrics of one run. `report` is None when the probe failed (only probe/status metrics then)."""
    out = _Out()
    out.family("tpdoctor_probe_success", "gauge", "1 if the topology probe succeeded.",
               [({}, 1 if probe_success else 0)])
    out.family("tpdoctor_probe_duration_seconds", "gauge", "Time the probe and evaluation took.",
               [({}, float(probe_duration_seconds))])
    out.family("tpdoctor_health_status", "gauge", "Health status: 0 ok, 1 warning, 2 critical, 3 unknown.",
               [({}, STATUS_VALUE[status])])
    out.family("tpdoctor_last_run_timestamp_seconds", "gauge", "Unix time of this run.",
               [({}, float(timestamp_seconds))])
    if report is not None:
        _topology(out, report)
        _findings(out, report)
    return "\n".join(out.lines) + "\n"


def _topology(out: _Out, report: Report) -> None:
    topo = report.topology
    links = topo.gpu_links()
    out.family("tpdoctor_gpus", "gauge", "GPUs seen by the probe.", [({}, len(topo.gpus))])
    out.family("tpdoctor_gpus_missing", "gauge", "GPUs the driver or the baseline knows of that nothing could read "
               "(fallen off the bus, lost).", [({}, len(topo.missing))])
    nv = [lk for lk in links if isinstance(lk.nvlinks_expected, int) and lk.nvlinks_expected > 0 or lk.nvlinks]
    out.family("tpdoctor_link_up", "gauge",
               "1 if every expected NVLink of the GPU pair is up (health ok), 0 if not; absent when unknown.",
               [({"gpu_a": lk.a, "gpu_b": lk.b}, 1 if lk.health is LinkHealth.OK else 0) for lk in nv
                if lk.health is not LinkHealth.UNKNOWN])
    out.family("tpdoctor_links_unknown", "gauge",
               "GPU pairs whose NVLink health could not be judged (not seen, or nothing to expect).",
               [({}, sum(1 for lk in links if lk.health is LinkHealth.UNKNOWN))])
    out.family("tpdoctor_check_made", "gauge",
               "1 if the check's evidence was there and it was made, 0 if not (the status is then not ok); "
               "checks that do not apply to this node are absent.",
               [({"check": c.name}, 1 if c.state is CheckState.MADE else 0)
                for c in (topo.coverage or coverage(topo)) if c.state is not CheckState.NOT_APPLICABLE])
    out.family("tpdoctor_link_nvlinks_bonded", "gauge", "NVLinks bonded and up between the GPU pair.",
               [({"gpu_a": lk.a, "gpu_b": lk.b}, lk.nvlinks) for lk in nv])
    out.family("tpdoctor_link_nvlinks_expected", "gauge", "NVLinks expected between the GPU pair.",
               [({"gpu_a": lk.a, "gpu_b": lk.b}, lk.nvlinks_expected) for lk in nv
                if isinstance(lk.nvlinks_expected, int)])
    errors = []
    for g in topo.gpus:
        for p in g.nvlinks:
            for counter in ("replay", "recovery", "crc_flit", "crc_data"):
                value = getattr(p.errors, counter)
                if isinstance(value, int):
                    errors.append(({"gpu": g.label, "nvlink": p.link, "counter": counter}, value))
    out.family("tpdoctor_nvlink_errors_total", "counter", "NVLink data-link-layer error counters.", errors)
    measured = [({"gpus": "+".join(f"GPU{i}" for i in r.group), "backend": r.backend, "size_bytes": r.bytes},
                 r.busbw_gbps * 1e9) for r in report.bench if r.error is None]
    benched = {"+".join(f"GPU{i}" for i in r.group) for r in report.bench}
    measured += [({"gpus": f"{lk.a}+{lk.b}", "backend": "unknown", "size_bytes": 0}, lk.busbw_gbps * 1e9)
                 for lk in links if lk.busbw_gbps is not None and f"{lk.a}+{lk.b}" not in benched]
    out.family("tpdoctor_allreduce_busbw_bytes_per_second", "gauge",
               "Measured all-reduce bus bandwidth (nccl-tests convention).", measured)


def _findings(out: _Out, report: Report) -> None:
    active: Counter[tuple[str, str, str]] = Counter()
    suppressed: Counter[tuple[str, str]] = Counter()
    for f in report.findings:
        if not f.judged:
            continue
        if f.suppressed:
            suppressed[(f.rule, f.name)] += 1
        else:
            active[(f.rule, f.name, f.severity.value)] += 1
    out.family("tpdoctor_findings", "gauge", "Active findings by rule and severity.",
               [({"rule": r, "name": n, "severity": s}, c) for (r, n, s), c in sorted(active.items())])
    out.family("tpdoctor_findings_suppressed", "gauge", "Findings switched off with --ignore, by rule.",
               [({"rule": r, "name": n}, c) for (r, n), c in sorted(suppressed.items())])
    not_judged = sum(1 for f in report.findings if not f.judged)
    out.family("tpdoctor_rules_not_judged", "gauge", "Rule x subject pairs that could not be judged (unknown facts).",
               [({}, not_judged)])
    by_sev = Counter(f.severity for f in report.findings if f.active)
    out.family("tpdoctor_findings_by_severity", "gauge", "Active findings by severity.",
               [({"severity": s.value}, by_sev.get(s, 0)) for s in Severity])
