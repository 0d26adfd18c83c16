"""Which CEL library: compile + evaluate a typical link rule over 2,556 link facts (an NVL72 node).

    /work/venv/bin/python benchmarks/cel_libraries.py        # common-expression-language (our choice)
    <venv with cel-expr-python>/bin/python benchmarks/cel_libraries.py

Measures whichever of the two libraries imports. Standalone on purpose (no tpdoctor imports) so it runs
in a scratch venv.
"""

from __future__ import annotations

import statistics
import time

EXPR = ("has(link.nvlinks_expected) && link.nvlinks_expected > 0 && link.nvlinks == 0 "
        "&& !link.mig && link.fabric_ready != false")
SMALL = [{"link": {"nvlinks_expected": 18, "nvlinks": i % 19, "mig": False, "fabric_ready": True}}
         for i in range(2556)]
WIDE = [{"link": {**s["link"], **{f"fact{k}": k for k in range(20)}, "a": "GPU0", "b": "GPU1"}} for s in SMALL]


def best(fn, runs: int = 7) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def report(name: str, compile_ms: float, run) -> None:  # type: ignore[no-untyped-def]
    small, wide = best(lambda: run(SMALL)), best(lambda: run(WIDE))
    print(f"{name:<30} compile {compile_ms:6.2f} ms | 2556 evals: 4 facts {small:6.1f} ms "
          f"({small / 2.556:.1f} us each), 24 facts {wide:6.1f} ms")


try:
    import cel

    t = time.perf_counter()
    prog = cel.compile(EXPR)
    ms = (time.perf_counter() - t) * 1e3
    report("common-expression-language", ms, lambda facts: [prog.execute(f) for f in facts])
except ImportError:
    print("common-expression-language: not installed")

try:
    from cel_expr_python import cel as gcel

    env = gcel.NewEnv(variables={"link": gcel.Type.DYN})
    t = time.perf_counter()
    gprog = env.compile(EXPR)
    ms = (time.perf_counter() - t) * 1e3
    report("cel-expr-python", ms, lambda facts: [gprog.eval(data=f).value() for f in facts])
except ImportError:
    print("cel-expr-python: not installed")
