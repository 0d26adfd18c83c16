"""Read many node reports, in a small process pool when there are many of them.

Parsing is CPU-bound Python (JSON + dataclass conversion), so threads do not help. The files are cut into
chunks; `workers - 1` worker processes (forked, so nothing is re-imported) take chunks from the front and
send back the parsed reports, and this process, once `meanwhile` is done, takes the chunks no worker has
started from the back and parses them itself: a report parsed here never crosses a process boundary, and
however long `meanwhile` takes, no process waits for another. Each distinct `links` table crosses the
boundary once per chunk (most nodes share one), the reports without it, so receiving a report costs a
fraction of parsing it. Small fleets, platforms without `fork`, and any pool failure fall back to reading in
this process: the result is the same list, in file order, with equal link tables shared (within one chunk)
as `fastload` shares them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tpdoctor.files.read import STDIN, read_bytes, read_text
from tpdoctor.fleet import fastload
from tpdoctor.model.errors import InputError, ParseError
from tpdoctor.model.findings import Report
from tpdoctor.model.frozen import replace
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


CHUNKS_PER_WORKER = 16  # small enough that the last chunks finish together


def read_reports(files: Sequence[Path], workers: int = 2, min_files_per_worker: int = MIN_FILES_PER_WORKER,
                 meanwhile: Callable[[], object] | None = None) -> list[Outcome]:
    """Every file's report (or error message), in file order, read by `workers` processes (this one
    included). `meanwhile` runs in this process while the workers parse (e.g. reading the manifests), or
    first when there is no pool."""
    if any(str(f) == STDIN for f in files):
        with contextlib.suppress(InputError):  # the read below meets the same refusal
            read_bytes(STDIN)  # here, before a worker forks: the bytes stay in this process for a second read
    workers = min(workers, len(files) // max(1, min_files_per_worker))
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        return read_chunk(files)
    size = -(-len(files) // (workers * CHUNKS_PER_WORKER))
    chunks = [list(files[i:i + size]) for i in range(0, len(files), size)]
    try:
        pool = ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("fork"))
        futures = [pool.submit(_worker, c) for c in chunks]
    except Exception:  # no pool here (no /dev/shm, process limits): read in this process
        if meanwhile is not None:
            meanwhile()
        return read_chunk(files)
    try:
        if meanwhile is not None:
            meanwhile()  # its errors (a malformed manifest) propagate; the reads are cancelled
        here = _steal(futures, chunks)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        parts = [here[i] if i in here else _received(f.result(timeout=max(0.0, deadline - time.monotonic())))
                 for i, f in enumerate(futures)]
    except Exception:  # a broken pool (killed worker, timeout): read in this process instead
        pool.shutdown(wait=False, cancel_futures=True)
        return read_chunk(files)
    pool.shutdown(wait=True)
    return [outcome for part in parts for outcome in part]


def _steal(futures: list[Future[Any]], chunks: list[list[Path]]) -> dict[int, list[Outcome]]:
    """Parse here, from the back, every chunk no worker has started (a cancelled future is never run)."""
    here: dict[int, list[Outcome]] = {}
    for i in range(len(futures) - 1, -1, -1):
        if not futures[i].cancel():
            break  # a worker has it, and every chunk before it
        here[i] = read_chunk(chunks[i])
    return here


def _received(part: tuple[list[tuple[Link, ...]], list[tuple[str, Report | str, int]]]) -> list[Outcome]:
    """A worker's chunk with each report's link table put back."""
    tables, outcomes = part
    return [(source, report) if isinstance(report, str)
            else (source, replace(report, topology=replace(report.topology, links=tables[k])))
            for source, report, k in outcomes]
