"""Which of the models named in the real corpora tpdoctor resolves, by source set.

    python scripts/model_coverage.py [--heldout] [--list]

Sources, read generically (files added later count too):
- fixtures/deployments/real/: every answer key's `model:` and every model the loader reads from the files;
- fixtures/models/corpus/dev.yaml: names from other real deployment files (development part);
- fixtures/models/corpus/heldout.yaml (with --heldout): names collected after the catalogue was built.

A name resolves when it yields an architecture (catalogue or a config.json). Runs on an older checkout too
(PYTHONPATH=<checkout>): there `models.resolve` also matched near-misses silently, which count as resolved
but are reported apart when they are listed in fixtures/models/corpus/unresolved.yaml.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "models" / "corpus"
REAL = ROOT / "fixtures" / "deployments" / "real"


def real_names() -> list[str]:
    from tpdoctor.manifests import loader
    from tpdoctor.model.errors import TpdError

    names: list[str] = []
    for meta in sorted(REAL.glob("*.meta.yaml")):
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        names += [str(d["model"]) for d in (data.get("expected") or {}).get("deployments") or [] if d.get("model")]
        target = next((p for p in REAL.iterdir() if p.name.startswith(meta.name[:-len(".meta.yaml")] + ".")
                       and not p.name.endswith(".meta.yaml")), None)
        if target is not None:
            with contextlib.suppress(TpdError):
                names += [d.model for d in loader.read(target) if d.model]
    return list(dict.fromkeys(names))


def listed(name: str) -> list[str]:
    path = CORPUS / name
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(dict.fromkeys(str(m) for s in data.get("sources") or [] for m in s.get("models") or []))


def resolves(name: str) -> bool:
    from tpdoctor.llm import models

    if hasattr(models, "resolve_model"):
        return models.resolve_model(name, use_cache=False).found  # type: ignore[attr-defined]
    try:
        return models.resolve(name) is not None
    except Exception:  # noqa: BLE001 - an older checkout's config reader
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heldout", action="store_true", help="score the held-out names too")
    ap.add_argument("--list", action="store_true", help="list the names that do not resolve")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    near = yaml.safe_load((CORPUS / "unresolved.yaml").read_text(encoding="utf-8")) if (
        CORPUS / "unresolved.yaml").exists() else {}
    sets = {"fixtures/deployments/real": real_names(), "dev.yaml": listed("dev.yaml")}
    if args.heldout:
        sets["heldout.yaml"] = listed("heldout.yaml")
    for label, names in sets.items():
        ok = [n for n in names if resolves(n)]
        silent = [n for n in ok if (near.get(n) or {}).get("why") == "near-miss"]
        print(f"{label}: {len(ok)}/{len(names)} resolve ({100 * len(ok) / max(len(names), 1):.0f}%)"
              + (f", of which {len(silent)} by a silent near-match" if silent else ""))
        if args.list:
            for n in names:
                if n not in ok:
                    print(f"  not resolved: {n}")
            for n in silent:
                print(f"  silent near-match: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
