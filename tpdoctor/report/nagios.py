"""The Nagios-plugin face of a health run: one summary line with perfdata, then one line per finding."""

from __future__ import annotations

from tpdoctor.model.findings import Finding, Report, Status


def _perf(label: str, value: float | int, unit: str = "") -> str:
    return f"{label}={value}{unit};;;0"


def active(findings: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in findings if f.active]


def render(report: Report | None, status: Status, *, duration_seconds: float, error: str | None = None,
           below_threshold: int = 0) -> str:
    """`TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down (0/12) | nvlinks_down=1;;;0 ...` plus detail lines."""
    if report is None:
        seconds = _perf("probe_seconds", round(duration_seconds, 3), "s")
        return f"TPDOCTOR UNKNOWN - {error or 'probe failed'} | {seconds}\n"
    topo = report.topology
    found = active(report.findings)
    links = topo.gpu_links()
    if found and status is not Status.OK:
        text = found[0].message
        if len(found) > 1:
            text += f" (+{len(found) - 1} more)"
    else:
        nv = sum(1 for lk in links if lk.nvlinks)
        gpus = f"{len(topo.gpus)} GPU{'s' if len(topo.gpus) != 1 else ''}"
        text = f"{gpus}, {nv} NVLink pair{'s' if nv != 1 else ''} healthy" if nv else f"{gpus} healthy"
        if found:
            text += f" ({len(found)} finding{'s' if len(found) != 1 else ''} below --fail-on)"
    perf = [
        _perf("gpus", len(topo.gpus)),
        _perf("nvlinks_down", sum(1 for lk in links if lk.health.value == "down")),
        _perf("nvlinks_degraded", sum(1 for lk in links if lk.health.value == "degraded")),
        _perf("findings_critical", sum(1 for f in found if f.severity.value == "critical")),
        _perf("findings_warning", sum(1 for f in found if f.severity.value == "warning")),
        _perf("findings_suppressed", sum(1 for f in report.findings if f.suppressed)),
        _perf("probe_seconds", round(duration_seconds, 3), "s"),
    ]
    lines = [f"TPDOCTOR {status.value.upper()} - {text} | {' '.join(perf)}"]
    for f in report.findings:
        tag = "SUPPRESSED" if f.suppressed else f.severity.value.upper()
        lines.append(f"{tag} {f.rule} {f.name} {f.subject}: {f.message}")
        if f.suppressed and f.suppressed_reason:
            lines.append(f"  suppressed: {f.suppressed_reason}")
        elif f.recommendation:
            lines.append(f"  fix: {f.recommendation}")
    return "\n".join(lines) + "\n"
