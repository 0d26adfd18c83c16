"""How long judging a 72-GPU NVL72-like node takes: facts + all node rules, against a 50 ms budget.

    /work/venv/bin/python benchmarks/rules_eval.py

A 72-GPU node has 2,556 GPU pairs; the node rules make 7,884 rule x subject judgements. Reported:
medians (and best) over repeated runs for a healthy node and for one GPU with every NVLink down (71
critical findings), then the engine's worst case — every subject distinct, so no two share a CEL call —
and what projection and sharing save. The machine is shared with other jobs: compare ratios and "best".
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.topologies import nvl72  # noqa: E402
from tpdoctor.engine.evaluate import Engine  # noqa: E402
from tpdoctor.node.facts import NODE_SCHEMA, node_facts  # noqa: E402
from tpdoctor.report.catalogue import load_catalogue  # noqa: E402

BUDGET_MS = 50.0
RUNS = 15


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(median, best) in ms over RUNS runs after one warm-up."""
    fn()
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)


def variant(engine: Engine, whole: bool) -> Engine:
    """The same rules with sharing defeated: each rule also reads `id` (distinct per subject), or the
    whole subject object (every fact converted to CEL on every call)."""
    other = Engine([c.rule for c in engine.compiled], NODE_SCHEMA)
    for c in other.compiled:
        fields = dict(c.refs.fields)
        cur = fields.get(c.rule.each, frozenset())
        fields[c.rule.each] = None if whole or cur is None else cur | {"id"}
        c.refs = replace(c.refs, fields=fields)
    return other


def main() -> None:
    t = time.perf_counter()
    rules = load_catalogue()
    engine = Engine(rules, NODE_SCHEMA)
    print(f"load + compile {len(rules)} rules: {(time.perf_counter() - t) * 1e3:.1f} ms (once per run)")
    print(f"{'scenario':<34}{'facts ms':>10}{'eval ms':>9}{'total ms':>10}{'best':>7}{'CEL calls':>11}"
          f"{'findings':>10}{'of budget':>11}")
    rows = [
        ("healthy", nvl72(), engine),
        ("gpu40-nvlinks-down", nvl72(lost_ports={40: 18}), engine),
        ("healthy, no sharing (worst case)", nvl72(), variant(engine, whole=False)),
        ("healthy, no sharing, whole objects", nvl72(), variant(engine, whole=True)),
    ]
    for name, topo, eng in rows:
        facts = node_facts(topo)
        facts_ms, facts_best = timed(lambda topo=topo: node_facts(topo))
        eval_ms, eval_best = timed(lambda facts=facts, eng=eng: eng.evaluate(facts))
        result = eng.evaluate(facts)
        total = facts_ms + eval_ms
        print(f"{name:<34}{facts_ms:>10.1f}{eval_ms:>9.1f}{total:>10.1f}{facts_best + eval_best:>7.1f}"
              f"{result.evaluations:>11}{len(result.findings):>10}{total / BUDGET_MS:>11.0%}")


if __name__ == "__main__":
    main()
