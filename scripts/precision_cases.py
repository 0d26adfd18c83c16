"""The precision cases table (docs/models.md): each case of fixtures/precision/cases.yaml checked on its topology.

    python scripts/precision_cases.py

Prints one markdown row per deployment: the checkpoint (as published), engine and flags, the weights' precision
tpdoctor used, weights GiB per GPU, and the verdict with its critical rules. Runs on an older checkout too
(PYTHONPATH=<checkout> python scripts/precision_cases.py), for the before/after table.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def flags(d: object) -> str:
    out = []
    for field, flag in (("quantization", "quant"), ("engine_dtype", "--dtype")):
        v = getattr(d, field, None)
        if v:
            out.append(f"{flag} {v}")
    if not out and getattr(d, "dtype", None):
        out.append(f"dtype {d.dtype}")  # type: ignore[attr-defined]
    return ", ".join(out) or "–"


def main() -> int:
    from tpdoctor.deploy.check import check, read_manifests
    from tpdoctor.probes import replay
    from tpdoctor.report.catalogue import load_catalogue

    rules = load_catalogue()
    cases = yaml.safe_load((ROOT / "fixtures" / "precision" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
    print("| case | checkpoint | engine, flags | GPU | weights | GiB/GPU | verdict |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        path = ROOT / c["file"]
        topo = replay.load(ROOT / "fixtures" / "topologies" / c["topology"])
        result = check(read_manifests([path]), topo, rules, gpu=c.get("gpu"))
        crit = sorted({f.rule for f in result.report.findings if f.active and f.severity.value == "critical"
                       and f.evidence.get("judged") is not False})
        for d, facts in zip(result.deployments, result.facts):
            w = facts.get("weights_gib")
            per = f"{w / max(d.tp * d.pp, 1):.1f}" if isinstance(w, (int, float)) else "?"
            gpu = c.get("gpu") or facts.get("gpu_sku") or "?"
            print(f"| {path.name} | {c['checkpoint']} | {d.engine}, {flags(d)} | {gpu} | {facts.get('dtype')} "
                  f"| {per} | {result.report.status.value.upper()} {' '.join(crit)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
