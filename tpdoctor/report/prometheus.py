"""node_exporter textfile-collector metrics for one health run: a pure renderer (text in, text out).

Names follow Prometheus conventions: `tpdoctor_` prefix, base units (seconds, bytes per second), `_total`
only on counters. Every per-GPU series carries dcgm-exporter's own labels, so the two join without
relabelling: `gpu` (the NVML index, "0"), `UUID`, `pci_bus_id` (dcgm's spelling, "00000000:19:00.0") and
`Hostname` (dcgm-exporter up to 4.5.3-4.8.2; its later `hostname` is a `label_replace` away, docs/health.md).
A GPU pair is one series with `gpu` the lower index and `peer_gpu` the other (dcgm-exporter's P2P label).

Observations stay observations: `tpdoctor_link_up` says whether the wire is up whatever `--ignore` says.
Judgements follow the verdict: `tpdoctor_finding` (one series per active finding and subject) and
`tpdoctor_health_status` leave out what `--ignore` suppressed, which `tpdoctor_finding_suppressed` lists;
alert on those (docs/health.md). The renderer knows no rule: every finding of every check is a series.
"""

from __future__ import annotations

import platform
import re
from collections import Counter
from collections.abc import Iterable

from tpdoctor import SCHEMA, __version__
from tpdoctor.model.busbw import group_label
from tpdoctor.model.coverage import coverage
from tpdoctor.model.findings import Finding, Report, Severity, Status
from tpdoctor.model.redact import redact_text
from tpdoctor.model.running import Running, RunningGroup
from tpdoctor.model.safetext import clean
from tpdoctor.model.topology import CheckState, Gpu, LinkHealth, NvLinkState, Topology

STATUS_VALUE = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}
COUNTERS = ("replay", "recovery", "crc_flit", "crc_data")
_GPU = re.compile(r"^GPU(\d+)$")
_PAIR = re.compile(r"^GPU(\d+)-GPU(\d+)$")


def _esc(value: object) -> str:
    """A label value: control characters made visible first (a host or GPU name from elsewhere must not drive
    the terminal of whoever reads the .prom file; a newline becomes `\\n`, so none is left), then the text
    format's own escapes."""
    return clean(value, 1024).replace("\\", "\\\\").replace('"', '\\"')


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
    out.family("tpdoctor_build_info", "gauge", "The tpdoctor that wrote these metrics (always 1).",
               [({"version": __version__, "schema": SCHEMA, "python_version": platform.python_version()}, 1)])
    if report is not None:
        _topology(out, report)
        _findings(out, report)
        if report.topology.running is not None:
            _running(out, report.topology.running)
    return "\n".join(out.lines) + "\n"


def _dcgm(topo: Topology, gpu: Gpu) -> dict[str, object]:
    """dcgm-exporter's labels of one GPU (`gpu`, `UUID`, `pci_bus_id`, `Hostname`); unread ones left out."""
    labels: dict[str, object] = {"gpu": str(gpu.index)}
    if isinstance(gpu.uuid, str):
        labels["UUID"] = gpu.uuid
    if isinstance(gpu.pci_bus_id, str):
        labels["pci_bus_id"] = _dcgm_bus_id(gpu.pci_bus_id)
    labels["Hostname"] = topo.host
    return labels


def _dcgm_bus_id(bus_id: str) -> str:
    """A PCI address as dcgm-exporter writes it (NVML's form: 8-digit domain, upper-case hex)."""
    parts = bus_id.upper().split(":")
    if len(parts) == 2:  # `19:00.0`, no domain
        parts = ["0", *parts]
    return ":".join([parts[0].zfill(8), *parts[1:]])


def _pair_labels(topo: Topology, a: str, b: str) -> dict[str, object]:
    """A GPU pair: the lower GPU's dcgm labels plus `peer_gpu`; a non-GPU end keeps its name."""
    by_label = {g.label: g for g in topo.gpus}
    ga, gb = by_label.get(a), by_label.get(b)
    if ga is None or gb is None:
        return {"gpu": a, "peer_gpu": b, "Hostname": topo.host}
    low, high = (ga, gb) if ga.index <= gb.index else (gb, ga)
    return {**_dcgm(topo, low), "peer_gpu": str(high.index)}


def _running(out: _Out, running: Running) -> None:
    """One series per running TP group (docs/running.md), labelled with what names it."""
    def labels(g: RunningGroup) -> dict[str, object]:
        return {"group": redact_text(g.name), "engine": g.engine if isinstance(g.engine, str) else "",
                "model": redact_text(g.model) if isinstance(g.model, str) else "",
                "tp": g.tp if isinstance(g.tp, int) else "", "gpus": g.gpu_labels, "runtime": g.runtime,
                "container": g.container.short if g.container else "",
                "pod_namespace": g.pod.namespace if g.pod and isinstance(g.pod.namespace, str) else "",
                "pod": g.pod.name if g.pod and isinstance(g.pod.name, str) else ""}
    out.family("tpdoctor_running_group_info", "gauge", "A TP group found running on the node (always 1).",
               [(labels(g), 1) for g in running.groups])
    out.family("tpdoctor_running_group_status", "gauge",
               "The running group's placement verdict: 0 ok, 1 warning, 2 critical, 3 unknown.",
               [({"group": redact_text(g.name)}, STATUS_VALUE[Status(g.status)]) for g in running.groups])
    out.family("tpdoctor_running_group_gpus", "gauge", "GPUs the running group's processes hold.",
               [({"group": redact_text(g.name)}, len(g.gpus)) for g in running.groups])
    out.family("tpdoctor_running_processes_hidden", "gauge",
               "GPU processes tpdoctor could not see (another PID namespace, permissions): the groups are then "
               "not checked.", [({}, len(running.hidden))])


def _topology(out: _Out, report: Report) -> None:
    topo = report.topology
    links = topo.gpu_links()
    out.family("tpdoctor_gpus", "gauge", "GPUs seen by the probe.", [({}, len(topo.gpus))])
    out.family("tpdoctor_gpus_missing", "gauge", "GPUs the driver or the baseline knows of that nothing could read "
               "(fallen off the bus, lost).", [({}, len(topo.missing))])
    nv = [lk for lk in links if isinstance(lk.nvlinks_expected, int) and lk.nvlinks_expected > 0 or lk.nvlinks]
    out.family("tpdoctor_link_up", "gauge",
               "1 if every expected NVLink of the GPU pair is up (health ok), 0 if not; absent when unknown. "
               "An observation: --ignore does not change it (tpdoctor_finding does).",
               [(_pair_labels(topo, lk.a, lk.b), 1 if lk.health is LinkHealth.OK else 0) for lk in nv
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
               [(_pair_labels(topo, lk.a, lk.b), lk.nvlinks) for lk in nv])
    out.family("tpdoctor_link_nvlinks_expected", "gauge", "NVLinks expected between the GPU pair.",
               [(_pair_labels(topo, lk.a, lk.b), lk.nvlinks_expected) for lk in nv
                if isinstance(lk.nvlinks_expected, int)])
    _errors(out, topo)
    measured = [({"gpus": group_label(r.group), "backend": r.backend, "size_bytes": r.bytes},
                 r.busbw_gbps * 1e9) for r in report.bench if r.error is None]
    benched = {group_label(r.group) for r in report.bench}
    measured += [({"gpus": f"{lk.a}+{lk.b}", "backend": "unknown", "size_bytes": 0}, lk.busbw_gbps * 1e9)
                 for lk in links if lk.busbw_gbps is not None and f"{lk.a}+{lk.b}" not in benched]
    out.family("tpdoctor_allreduce_busbw_bytes_per_second", "gauge",
               "Measured all-reduce bus bandwidth (nccl-tests convention).", measured)


def _errors(out: _Out, topo: Topology) -> None:
    """Per GPU, each counter summed over its NVLinks; per link only for active links (an inactive port's
    counters are zero or stale, and a 4-GPU node has 18 ports x 4 counters per GPU)."""
    totals, per_link = [], []
    for g in topo.gpus:
        labels = _dcgm(topo, g)
        for counter in COUNTERS:
            values = [(p, getattr(p.errors, counter)) for p in g.nvlinks]
            read = [(p, v) for p, v in values if isinstance(v, int)]
            if read:
                totals.append(({**labels, "counter": counter}, sum(v for _, v in read)))
            per_link += [({**labels, "nvlink": p.link, "counter": counter}, v) for p, v in read
                         if p.state is NvLinkState.ACTIVE]
    out.family("tpdoctor_nvlink_errors_total", "counter",
               "NVLink data-link-layer error counters of the GPU, summed over its NVLinks.", totals)
    out.family("tpdoctor_nvlink_link_errors_total", "counter",
               "NVLink data-link-layer error counters of each active NVLink.", per_link)


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
    topo = report.topology
    out.family("tpdoctor_finding", "gauge",
               "1 per active finding and subject (GPU: gpu; GPU pair: gpu, peer_gpu; else subject).",
               [({**_subject(topo, f), "rule": f.rule, "name": f.name, "severity": f.severity.value}, 1)
                for f in report.findings if f.active])
    out.family("tpdoctor_finding_suppressed", "gauge", "1 per finding switched off with --ignore, by subject.",
               [({**_subject(topo, f), "rule": f.rule, "name": f.name}, 1) for f in report.findings
                if f.judged and f.suppressed])
    by_sev = Counter(f.severity for f in report.findings if f.active)
    out.family("tpdoctor_findings_by_severity", "gauge", "Active findings by severity.",
               [({"severity": s.value}, by_sev.get(s, 0)) for s in Severity])


def _subject(topo: Topology, finding: Finding) -> dict[str, object]:
    by_index = {g.index: g for g in topo.gpus}
    if (m := _PAIR.match(finding.subject)) and int(m.group(1)) in by_index and int(m.group(2)) in by_index:
        return _pair_labels(topo, f"GPU{m.group(1)}", f"GPU{m.group(2)}")
    if (m := _GPU.match(finding.subject)) and int(m.group(1)) in by_index:
        return _dcgm(topo, by_index[int(m.group(1))])
    return {"subject": finding.subject, "Hostname": topo.host}
