"""`--bench FILE`: measured all-reduce results as `tpdoctor bench --json` writes them (a report or a list),
or the text nccl-tests' `all_reduce_perf` prints (parsed by `probes/nccltests.py`); `-` reads standard input."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.files.read import read_text
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.errors import ParseError


def read_bench_input(path: str | Path) -> tuple[BenchResult, ...]:
    from tpdoctor.deploy.check import bench_from_json

    source = str(path)
    text = read_text(path, what="bench results (tpdoctor bench --json, or nccl-tests output)")
    if text.lstrip()[:1] in ("{", "["):
        return bench_from_json(text, source)
    from tpdoctor.probes.nccltests import parse_nccl_tests, to_bench_results

    run = parse_nccl_tests(text, source)
    if run.collective not in (None, "all_reduce"):
        raise ParseError(f"nccl-tests {run.collective}_perf output; tpdoctor compares all_reduce_perf results",
                         source=source)
    results = to_bench_results(run)
    if not results:
        raise ParseError("neither tpdoctor bench JSON nor an nccl-tests table with rows", source=source)
    return results
