"""Score tpdoctor on the real-manifest corpus, per part of its split (fixtures/deployments/real/SPLIT.yaml).

    python scripts/corpus_score.py [--part development|held-out|all] [--detail] [--json]

For each part: files read right or refused right (key by key against the answer key, every key, and the keys
issue 12 defined alone), false CRITICALs (a critical finding on a healthy 8× H100 node whose rule the answer
key does not allow), deployments that cannot work as written that end OK (exit 0), and the status of every
file. It imports whatever `tpdoctor` is on PYTHONPATH, so the same script scores another checkout (`git
worktree add /tmp/main a090e98; PYTHONPATH=/tmp/main python scripts/corpus_score.py`): attributes an older
tree lacks read as absent, so its answers to the new keys count as wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _corpus() -> Any:
    """tests/manifests/corpus.py of this checkout, loaded by path: `tpdoctor` itself stays whatever PYTHONPATH
    names (another checkout's, to score it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("corpus_keys", ROOT / "tests" / "manifests" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_C = _corpus()
ISSUE12_KEYS, KEYS, REAL, differences, files, meta, reading = (_C.ISSUE12_KEYS, _C.KEYS, _C.REAL, _C.differences,
                                                               _C.files, _C.meta, _C.reading)

NODE = ROOT / "fixtures" / "topologies" / "h100-sxm-8.json"
VENDOR_WORDS = {"amd": "AMD", "gaudi": "Gaudi", "tpu": "TPU", "ascend": "Ascend", "cpu": "CPU"}


def split() -> dict[str, str]:
    """file name -> development | held-out."""
    data = yaml.safe_load((REAL / "SPLIT.yaml").read_text(encoding="utf-8"))
    held = set(data["held_out_repositories"])
    return {p.name: "held-out" if meta(p)["source"]["repo"] in held else "development" for p in files()}


def judge_read(path: Path, keys: tuple[str, ...]) -> tuple[bool, str, Any]:
    """(right, detail, deployments or the refusal text)."""
    from tpdoctor.manifests import loader
    from tpdoctor.model.errors import TpdError

    expected = meta(path)["expected"]
    try:
        got: Any = tuple(loader.read(path))
    except TpdError as exc:
        got = exc.message
    except Exception as exc:  # an older tree may crash: that is a wrong answer, counted as such
        return False, f"traceback: {type(exc).__name__}: {exc}", None
    if isinstance(got, str):
        if expected["outcome"] == "read":
            return False, f"refused: {got}", got
        if expected["outcome"] == "not-gpu":
            word = VENDOR_WORDS.get(str(expected.get("vendor")), "not a GPU job")
            return word.lower() in got.lower(), got, got
        return True, got, got
    if expected["outcome"] != "read":
        return False, f"read {len(got)} deployment(s); the key says {expected['outcome']}", got
    want = expected["deployments"]
    if len(got) != len(want):
        return False, f"{len(got)} deployments, the key has {len(want)}", got
    diffs = [f"#{i}: {x}" for i, (d, w) in enumerate(zip(got, want))
             for x in differences(reading(d), w, keys)]
    return not diffs, "; ".join(diffs), got


def judge_verdict(path: Path, got: Any) -> tuple[str, list[str], list[str]]:
    """(status on the healthy 8× H100 node, criticals the key does not allow, rules that failed to evaluate)."""
    if got is None:
        return "traceback", [], []
    if isinstance(got, str):
        return "refused", [], []
    from tpdoctor.deploy.check import check
    from tpdoctor.probes import replay
    from tpdoctor.report.catalogue import load_catalogue

    try:
        result = check(list(got), replay.load(NODE), load_catalogue())
    except Exception as exc:
        return f"error: {type(exc).__name__}", [], []
    allowed = set(meta(path).get("verdict", {}).get("critical") or [])
    false = sorted({f.rule for f in result.report.findings if f.active and f.severity.value == "critical"
                    and f.evidence.get("judged") is not False and f.rule not in allowed})
    errors = sorted({f.rule for f in result.report.findings if "rule error" in f.message})
    return result.report.status.value, false, errors


def score(part: str, detail: bool) -> dict[str, Any]:
    parts = split()
    chosen = [p for p in files() if part == "all" or parts[p.name] == part]
    rows = []
    for p in chosen:
        right_all, why, got = judge_read(p, KEYS)
        right_old = judge_read(p, ISSUE12_KEYS)[0] if got is not None else False
        status, false, errors = judge_verdict(p, got)
        works = meta(p).get("verdict", {}).get("works")
        rows.append({"file": p.name, "right": right_all, "right_old_keys": right_old, "status": status,
                     "false_critical": false, "rule_errors": errors,
                     "cannot_work_ok": works is False and status == "ok",
                     "detail": why if not right_all else ""})
    repos = {meta(p)["source"]["repo"] for p in chosen}
    out = {
        "part": part, "files": len(chosen), "repositories": len(repos),
        "read_or_refused_right": sum(r["right"] for r in rows),
        "read_or_refused_right_issue12_keys": sum(r["right_old_keys"] for r in rows),
        "files_with_false_critical": sum(bool(r["false_critical"]) for r in rows),
        "files_with_rule_error": sum(bool(r["rule_errors"]) for r in rows),
        "cannot_work": sum(meta(p).get("verdict", {}).get("works") is False for p in chosen),
        "cannot_work_ending_ok": sum(r["cannot_work_ok"] for r in rows),
        "tracebacks": sum(r["status"] == "traceback" for r in rows),
        "statuses": dict(Counter(r["status"] for r in rows)),
    }
    if detail:
        out["rows"] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["development", "held-out", "all"], default=None)
    ap.add_argument("--detail", action="store_true", help="one row per file (what was read wrong, and why)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = [score(p, args.detail) for p in ([args.part] if args.part else ["development", "held-out"])]
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        print(f"{r['part']}: {r['files']} files from {r['repositories']} repositories")
        print(f"  read or refused right: {r['read_or_refused_right']}/{r['files']} "
              f"(issue-12 keys only: {r['read_or_refused_right_issue12_keys']})")
        print(f"  files with a false CRITICAL: {r['files_with_false_critical']}; with a rule that failed to "
              f"evaluate: {r['files_with_rule_error']}")
        print(f"  cannot work as written: {r['cannot_work']}, of which end OK: {r['cannot_work_ending_ok']}")
        print(f"  tracebacks: {r['tracebacks']}; statuses: {r['statuses']}")
        for row in r.get("rows", []):
            flag = "ok  " if row["right"] else "MISS"
            extra = f" false-critical={row['false_critical']}" if row["false_critical"] else ""
            extra += f" rule-error={row['rule_errors']}" if row["rule_errors"] else ""
            extra += " CANNOT-WORK-ENDS-OK" if row["cannot_work_ok"] else ""
            print(f"    {flag} {row['status']:9s} {row['file']}{extra} {row['detail'][:220]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
