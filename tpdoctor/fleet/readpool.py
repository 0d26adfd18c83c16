"""Read many node reports, in a small process pool when there are many of them.

Parsing is CPU-bound Python (JSON + dataclass conversion), so threads do not help; two worker processes
(forked, so nothing is re-imported) each read a share of the files and send back the parsed reports.
Each distinct `links` table crosses the process boundary once (most nodes share one), the reports
without it, so receiving a report costs a fraction of parsing it. Small fleets, platforms without
`fork`, and any pool failure fall back to reading in this process: the result is the same list, in file
order, with equal link tables shared (within one worker's share) as `fastload` shares them.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from tpdoctor.files.read import read_text
from tpdoctor.fleet import fastload
from tpdoctor.model.errors import InputError, ParseError
from tpdoctor.model.findings import Report
from tpdoctor.model.topology import Link

MIN_FILES_PER_WORKER = 250  # below this, starting workers costs more than it saves
TIMEOUT_SECONDS = 300.0

Outcome = tuple[str, "Report | str"]  # (path, the report or why it could not be read)


def read_chunk(files: Sequence[Path]) -> list[Outcome]:
    links = fastload.LinkTableCache()
    out: list[Outcome] = []
    for path in files:
        try:
            text = read_text(path, what="a tpdoctor/v1 report")
            out.append((str(path), fastload.loads(text, source=str(path), cache=links)))
        except (InputError, ParseError) as exc:  # never blocks: a FIFO or a device is refused at once
            out.append((str(path), exc.message))
    return out


def _worker(files: Sequence[Path]) -> tuple[list[tuple[Link, ...]], list[tuple[str, Report | str, int]]]:
    """A worker's share: the distinct link tables, and each outcome with its report's table index."""
    tables: dict[int, int] = {}
    table_list: list[tuple[Link, ...]] = []
    out: list[tuple[str, Report | str, int]] = []
    for source, report in read_chunk(files):
        if isinstance(report, str):
            out.append((source, report, -1))
            continue
        links = report.topology.links
        k = tables.get(id(links))
        if k is None:
            k = tables[id(links)] = len(table_list)
            table_list.append(links)
        out.append((source, replace(report, topology=replace(report.topology, links=())), k))
    return table_list, out


def read_reports(files: Sequence[Path], workers: int = 2, min_files_per_worker: int = MIN_FILES_PER_WORKER,
                 meanwhile: Callable[[], object] | None = None) -> list[Outcome]:
    """Every file's report (or error message), in file order. `meanwhile` runs in this process while the
    workers parse (e.g. reading the manifests), or first when there is no pool."""
    workers = min(workers, len(files) // max(1, min_files_per_worker))
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        return read_chunk(files)
    n_chunks = workers * 4
    size = -(-len(files) // n_chunks)
    chunks = [list(files[i:i + size]) for i in range(0, len(files), size)]
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        futures = [pool.submit(_worker, c) for c in chunks]
    except Exception:  # no pool here (no /dev/shm, process limits): read in this process
        if meanwhile is not None:
            meanwhile()
        return read_chunk(files)
    try:
        if meanwhile is not None:
            meanwhile()  # its errors (a malformed manifest) propagate; the reads are cancelled
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        parts = [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
    except Exception:  # a broken pool (killed worker, timeout): read in this process instead
        pool.shutdown(wait=False, cancel_futures=True)
        return read_chunk(files)
    pool.shutdown(wait=True)
    out: list[Outcome] = []
    for tables, outcomes in parts:
        for source, report, k in outcomes:
            if isinstance(report, str):
                out.append((source, report))
            else:
                out.append((source, replace(report, topology=replace(report.topology, links=tables[k]))))
    return out
