"""The fleet's fast report reader gives exactly the plain reader's Report; the pool gives the same list."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.factory import cross_node_results, node
from tpdoctor.advice.placement import best_group
from tpdoctor.fleet import fastload
from tpdoctor.fleet.gcpause import gc_paused
from tpdoctor.fleet.placer import Placer
from tpdoctor.fleet.readpool import read_chunk, read_reports
from tpdoctor.model import contract as report_json
from tpdoctor.model.errors import ParseError
from tpdoctor.model.findings import Finding, Severity

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = sorted((ROOT / "fixtures" / "topologies").glob("*.json")) + sorted(
    (ROOT / "fixtures" / "fleet" / "reports").glob("*.json"))


def texts() -> list[tuple[str, str]]:
    out = [(p.name, p.read_text()) for p in TOPOLOGIES]
    bench = cross_node_results(("x", "y"), ranks_per_node=8)
    out.append(("with-bench", report_json.render(replace(node("x", off_switch=(1, 3)), bench=bench))))
    finding = Finding(rule="TPD100", name="nvlink-down", severity=Severity.CRITICAL, subject="GPU0-GPU1",
                      message='odd "links": [1, 2] and "nvlinks": [] text', recommendation="Fix it.",
                      evidence={"links": [[0, 1]], "nvlinks": [{"a": [1]}]})
    out.append(("tricky-finding", report_json.render(replace(node("z"), findings=(finding,)))))
    compact = json.dumps(json.loads(report_json.render(node("c"))))
    out.append(("compact", compact))
    return out


@pytest.mark.parametrize(("name", "text"), texts(), ids=[n for n, _ in texts()])
def test_fast_reader_equals_plain_reader(name: str, text: str) -> None:
    assert fastload.loads(text, source=name) == report_json.loads(text, source=name, ports=False)


def test_fast_path_is_taken_and_links_are_shared() -> None:
    cache = fastload.LinkTableCache()
    a = fastload._fast(report_json.render(node("a")), "a", cache)
    b = fastload._fast(report_json.render(node("b")), "b", cache)
    assert a is not None and b is not None and a.topology.links is b.topology.links and cache.hits == 1


def test_nested_arrays_in_ports_fall_back_to_the_plain_reader() -> None:
    data = json.loads(report_json.render(node("n")))
    data["gpus"][0]["nvlinks"][0]["unknown"] = {"odd": [1, [2]]}
    text = json.dumps(data, indent=2)
    assert fastload._fast(text, "n", fastload.LinkTableCache()) is None
    assert fastload.loads(text) == report_json.loads(text, ports=False)


def test_bad_reports_raise_the_plain_readers_errors() -> None:
    good = report_json.render(node("n"))
    with pytest.raises(ParseError):
        fastload.loads(good[: len(good) // 2], source="half.json")
    with pytest.raises(ParseError, match="schema"):
        fastload.loads(good.replace("tpdoctor/v1", "tpdoctor/v0"), source="old.json")


def test_pool_reads_the_same_reports_in_file_order(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"n{i}.json").write_text(report_json.render(node(f"n{i}", off_switch=(i % 3,) if i else ())))
    (tmp_path / "n9.json").write_text("{ truncated")
    files = sorted(tmp_path.glob("*.json"))
    serial = read_chunk(files)
    pooled = read_reports(files, workers=2, min_files_per_worker=1)
    assert [s for s, _ in pooled] == [s for s, _ in serial]
    assert [r for _, r in pooled] == [r for _, r in serial]
    assert isinstance(pooled[-1][1], str) and "not JSON" in pooled[-1][1]


def test_work_done_meanwhile_runs_once_and_its_errors_propagate(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"n{i}.json").write_text(report_json.render(node(f"n{i}")))
    files = sorted(tmp_path.glob("*.json"))
    calls: list[int] = []
    out = read_reports(files, workers=2, min_files_per_worker=1, meanwhile=lambda: calls.append(1))
    assert calls == [1] and len(out) == 4
    out = read_reports(files, workers=1, meanwhile=lambda: calls.append(2))
    assert calls == [1, 2] and len(out) == 4

    def bad() -> None:
        raise ValueError("malformed manifest")

    with pytest.raises(ValueError, match="malformed manifest"):
        read_reports(files, workers=2, min_files_per_worker=1, meanwhile=bad)


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_fleet_placer_agrees_with_searching_every_node() -> None:
    reports = [node(f"n{i}", off_switch=off) for i, off in enumerate([(), (2,), (0, 5), (), (7,)])]
    placer = Placer((r.topology.host, r.topology, ()) for r in reports)
    held = {"n0": {0, 1, 2}, "n3": {4}}
    for host, gpus in held.items():
        placer.hold(host, gpus)
    for n in (1, 2, 4, 6, 8):
        expected = min(((g.score, r.topology.host, g) for r in reports
                        if (g := best_group(r.topology, n, exclude=held.get(r.topology.host, set()))) is not None),
                       key=lambda t: t[:2], default=None)
        got = placer.best_anywhere(n)
        assert (got is None) == (expected is None)
        if got is not None and expected is not None:
            assert got[0] == expected[1] and got[1].gpus == expected[2].gpus
    assert len(placer.states) <= 5  # one state per (shape, held GPUs), not per node


def test_best_elsewhere_is_best_anywhere_without_that_host() -> None:
    reports = [node(f"n{i}", off_switch=off) for i, off in enumerate([(), (2,), (0, 5), (), (7,), ()])]
    placer = Placer((r.topology.host, r.topology, ()) for r in reports)
    hosts = [r.topology.host for r in reports]
    for step in [None, ("n0", {0, 1, 2}), ("n3", {4}), ("n5", {0, 1, 2, 3, 4, 5, 6})]:
        if step is not None:
            placer.hold(*step)  # holding GPUs forgets what was remembered
        for n in (1, 2, 4, 8):
            for host in hosts:
                assert placer.best_elsewhere(n, host) == placer.best_anywhere(n, exclude=[host])


def test_text_mutations_read_as_the_plain_reader_reads_them() -> None:
    """Brackets, quotes, backslashes and look-alike keys inserted anywhere: where the plain reader reads a
    report, the fast reader reads the same one. (Where it refuses, the fast reader may read the report: a
    flat port array is skipped unparsed by design, so text that is not JSON inside one goes unnoticed.)"""
    import random

    rng = random.Random(25)
    bases = [report_json.render(node("m", n=2)), report_json.render(node("o", n=2, off_switch=(1,))),
             json.dumps(json.loads(report_json.render(node("p", n=2))))]
    bits = ["]", "[", '"', "\\\\", '"links": [', '"nvlinks": [', ', "links": []', '"links"', 'links"', "{", "}",
            ",", " ", '"a]"', '"x": "]"', "[]", '"nvlinks": []', '], "links": [']
    same = refused = 0
    for _ in range(1500):
        text = rng.choice(bases)
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(bits) + text[at + rng.choice([0, 0, 1, 3]):]
        try:
            plain = report_json.loads(text, source="m.json", ports=False)
        except ParseError:
            refused += 1
            continue
        assert fastload.loads(text, source="m.json") == plain, text
        same += 1
    assert same > 100 and refused > 100
