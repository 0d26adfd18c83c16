"""Every nccl-tests capture in fixtures/nccl-tests parses to the figures its `.meta.yaml` records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.probes.corpus import NCCL_TESTS, captures, meta, read
from tpdoctor.model.errors import ParseError
from tpdoctor.probes.nccltests import NcclTestsRun, parse_nccl_tests, to_bench_results

PROVENANCE = {"source_url", "repo", "path", "commit", "date", "hardware", "notes"}


def _largest(run: NcclTestsRun) -> Any:
    big = max(r.size_bytes for r in run.rows)
    return big, [r for r in run.rows if r.size_bytes == big]


def check(run: NcclTestsRun, m: dict[str, Any]) -> None:
    for key, want in m.items():
        if key in PROVENANCE:
            continue
        if key == "avg_bus_bandwidth":
            assert run.avg_busbw_gbps == (None if want is None else pytest.approx(float(want)))
        elif key in ("largest_size_bytes", "largest_size"):
            want_bytes = want if isinstance(want, int) else int(str(want).split()[0].replace("_", ""))
            assert _largest(run)[0] == want_bytes
        elif key == "largest_size_busbw":
            rows = _largest(run)[1]
            if isinstance(want, dict):
                assert {r.out_of_place.busbw_gbps for r in rows} == {want["out_of_place"]}
                assert {r.in_place.busbw_gbps for r in rows if r.in_place} == {want["in_place"]}
            else:
                assert {r.out_of_place.busbw_gbps for r in rows} == {want}
        elif key == "peak_busbw":
            both = [t.busbw_gbps for r in run.rows for t in (r.out_of_place, r.in_place) if t is not None]
            assert max(both) == want  # the peak of either column
        elif key == "ranks":
            assert run.nranks == want
        elif key == "processes":
            assert run.processes == want
            assert any("interleaved" in n for n in run.notes)
        elif key == "out_of_bounds":
            assert run.out_of_bounds == want
        elif key == "rows":
            assert len(run.rows) == want
        elif key == "collective":
            assert run.collective == want
        elif key == "nccl_tests_version":
            assert (run.version == want) if want[0].isdigit() else run.version is None
        elif key == "error_column":
            assert want and "error" in run.columns
            assert all(r.out_of_place.error is not None and r.out_of_place.wrong is None for r in run.rows)
        else:
            pytest.fail(f"unknown meta key {key!r}")


@pytest.mark.parametrize("path", captures(NCCL_TESTS), ids=lambda p: p.stem)
def test_corpus(path: Path) -> None:
    check(parse_nccl_tests(read(path), source=path.name), meta(path))


def test_fixtures_present() -> None:
    assert len(captures(NCCL_TESTS)) >= 12


def test_single_node_run_becomes_bench_results_on_its_gpus() -> None:
    # allreduce-perf/004: 2x RTX 2080 Ti over PCIe without P2P, ~4 GB/s
    path = NCCL_TESTS / "004-autodl-rtx2080tix2-pcie-no-p2p-8b-1g.txt"
    results = to_bench_results(parse_nccl_tests(read(path)))
    assert len(results) == 28
    last = results[-1]
    assert last.group == (0, 1) and last.bytes == 1073741824 and last.busbw_gbps == 4.0
    assert last.backend == "nccl" and last.dtype == "float32" and last.iterations == 20 and last.correct
    in_place = to_bench_results(parse_nccl_tests(read(path)), in_place=True)[-1]
    assert "in-place" in (in_place.label or "")


def test_two_node_run_groups_by_rank() -> None:
    # allreduce-perf/002: 16 ranks on two hosts, device 0-7 on each -> group is the rank numbers
    run = parse_nccl_tests(read(NCCL_TESTS / "002-gcp-a3mega-h100x16-2node-8b-8g.txt"))
    assert to_bench_results(run)[0].group == tuple(range(16))


def test_hand_trimmed_table_has_no_in_place_and_group_from_command() -> None:
    # allreduce-perf/001: columns size/time/algbw/busbw only, underscores in sizes, "-g 8 -n 50"
    run = parse_nccl_tests(read(NCCL_TESTS / "001-mlengineering-a100x8-massaged-columns.txt"))
    assert all(r.in_place is None for r in run.rows)
    assert run.rows[5].size_bytes == 1048576  # printed "1048_576" (author typo)
    res = to_bench_results(run)
    assert res[0].group == tuple(range(8)) and res[0].iterations == 50
    assert to_bench_results(run, in_place=True) == ()


def test_broken_timer_is_flagged() -> None:
    # allreduce-perf/005: in-place time stuck at 0.19 us, algbw up to 5.7 million GB/s
    run = parse_nccl_tests(read(NCCL_TESTS / "005-autodl-rtx2080ti-reduce_perf-1gpu-broken-columns.txt"))
    assert any("do not trust" in n for n in run.notes)
    assert any("single rank" in n for n in run.notes)


def test_stray_log_line_is_skipped_and_noted() -> None:
    # allreduce-perf/006: "hostname:3442:3442 [0] NCCL INFO Launch mode Parallel" inside the table
    run = parse_nccl_tests(read(NCCL_TESTS / "006-superbench-a100x8-old-format-error-col-nccl-info-line.txt"))
    assert any("NCCL log line" in n for n in run.notes)
    assert run.rows[0].size_bytes == 0 and run.rows[0].out_of_place.error is None  # "N/A": validation off


def test_row_that_does_not_fit_the_header_names_its_line() -> None:
    text = read(NCCL_TESTS / "012-dkh-a100-sxm4-80gbx8-nccltests-2.19.4-concluded-trailer.txt")
    lines = text.split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith("1048576 "))
    lines[k] = lines[k].rsplit(None, 1)[0]  # drop the in-place #wrong cell
    with pytest.raises(ParseError) as e:
        parse_nccl_tests("\n".join(lines), source="cut.txt")
    assert e.value.line == k + 1 and "expected 13 fields" in str(e.value)


@pytest.mark.parametrize("text", ["", "hello\nworld", "# nThread 1 nGpus 2\n#\n", "GPU0 X NV12\n"])
def test_not_nccl_tests(text: str) -> None:
    with pytest.raises(ParseError):
        parse_nccl_tests(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([read(p) for p in captures(NCCL_TESTS)]), st.data())
def test_mutations_only_give_a_result_or_parse_error(text: str, data: st.DataObject) -> None:
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "dup", "noise", "cut"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "noise":
            p = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:p] + data.draw(st.text(min_size=1, max_size=6)) + lines[i][p:]
        else:
            lines = lines[: i + 1]
        if not lines:
            lines = [""]
    try:
        run = parse_nccl_tests("\n".join(lines))
    except ParseError:
        return
    assert run.rows
