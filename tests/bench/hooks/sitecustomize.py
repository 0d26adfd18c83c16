"""Test-only: makes one benchmark rank stop answering, for the watchdog and orphan tests. Production never
loads it: Python imports `sitecustomize` from sys.path at start-up, and only a test puts this folder on
PYTHONPATH (`tests.bench.helpers.stuck_env`), together with

    TPDOCTOR_BENCH_TEST_HANG='{"rank": R, "group": [GPU, ...], "after": N, "file": PATH}'

Rank R, in that group (GPU labels, as in results), stops before its size N+1 (after N sizes) until it is
killed, creating PATH first when given. `python -m tpdoctor.bench.worker` is run by runpy as `__main__`;
this wraps runpy's entry so the worker runs as its own module instead, with `measure_size` wrapped."""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from typing import Any

HANG = os.environ.get("TPDOCTOR_BENCH_TEST_HANG")


def _stuck(spec: dict[str, Any], measure: Any) -> Any:
    done: dict[tuple[int, ...], int] = {}

    def measure_size(me: Any, pg: Any, *args: Any, **kwargs: Any) -> Any:
        import torch.distributed as dist

        gpus = tuple(me.labels[r] for r in dist.get_process_group_ranks(pg))
        count = done.get(gpus, 0)
        done[gpus] = count + 1
        if me.rank == spec["rank"] and list(gpus) == list(spec["group"]) and count == spec["after"]:
            if spec.get("file"):
                open(spec["file"], "w").close()  # noqa: SIM115
            while True:
                time.sleep(3600)
        return measure(me, pg, *args, **kwargs)
    return measure_size


def _install() -> None:
    original = runpy._run_module_as_main  # type: ignore[attr-defined]

    def run_module_as_main(mod_name: str, alter_argv: bool = True) -> Any:
        if mod_name != "tpdoctor.bench.worker":
            return original(mod_name, alter_argv)
        import tpdoctor.bench.worker as worker

        worker.measure_size = _stuck(json.loads(HANG or "{}"), worker.measure_size)  # type: ignore[attr-defined]
        sys.argv[0] = worker.__file__
        sys.exit(worker.main())
    runpy._run_module_as_main = run_module_as_main  # type: ignore[attr-defined]


if HANG:
    _install()
