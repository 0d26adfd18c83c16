"""Replay: a raw topo -m file, a collect directory, a JSON report; bad input is a ParseError naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, FIXTURES
from tpdoctor.model.contract import render
from tpdoctor.model.errors import InputError, ParseError
from tpdoctor.model.findings import Report
from tpdoctor.model.topology import LinkHealth, NvLinkState
from tpdoctor.probes.replay import example_path, load, load_report

TOPO_M_FIXTURES = sorted((FIXTURES / "smi" / "topo-m").glob("*.txt"))


def test_example_path_is_inside_the_package() -> None:
    assert example_path() == EXAMPLE
    assert (example_path() / "topo-m.txt").is_file()


def test_example_node_reads_as_specified() -> None:
    topo = load(EXAMPLE)
    assert topo.host == "gpu01"
    assert [g.name for g in topo.gpus] == ["NVIDIA H100 NVL"] * 4
    assert {g.memory_mib for g in topo.gpus} == {95830}
    assert [g.numa_node for g in topo.gpus] == [0, 0, 1, 1]
    assert [g.cpu_affinity for g in topo.gpus] == ["0-31,64-95"] * 2 + ["32-63,96-127"] * 2
    assert {(g.pcie.gen_current, g.pcie.width_current, g.pcie.gen_max, g.pcie.width_max)
            for g in topo.gpus} == {(5, 16, 5, 16)}
    for i in (0, 1):
        ports = topo.gpu(i).nvlinks
        assert len(ports) == 18 and all(p.state is NvLinkState.INACTIVE for p in ports)
    for i in (2, 3):
        active = [p for p in topo.gpu(i).nvlinks if p.state is NvLinkState.ACTIVE]
        assert len(active) == 12 and {p.speed_gbps for p in active} == {26.562}
        assert {p.link for p in topo.gpu(i).nvlinks if p.state is NvLinkState.INACTIVE} == {4, 9, 10, 15, 16, 17}
        assert all(p.errors.replay == 0 and p.errors.crc_flit == 0 for p in topo.gpu(i).nvlinks)
    down = topo.gpu_link(0, 1)
    assert down is not None
    assert (down.health, down.path, down.nvlinks, down.nvlinks_expected) == (LinkHealth.DOWN, "NODE", 0, 12)
    assert down.p2p_detail == {"read": "OK", "write": "OK", "nvlink": "NS"}
    ok = topo.gpu_link(2, 3)
    assert ok is not None
    assert (ok.health, ok.path, ok.nvlinks, ok.nvlinks_expected) == (LinkHealth.OK, "NV12", 12, 12)
    assert topo.gpu_link(0, 2).path == "SYS"  # type: ignore[union-attr]
    assert [n.name for n in topo.nics] == ["mlx5_0", "mlx5_1"]
    assert topo.link("GPU0", "NIC0").path == "NODE"  # type: ignore[union-attr]


def test_raw_topo_m_file() -> None:
    topo = load(EXAMPLE / "topo-m.txt")
    assert len(topo.gpus) == 4
    assert topo.gpu_link(2, 3).path == "NV12"  # type: ignore[union-attr]
    assert topo.source == "snapshot"
    assert any("replayed from" in n for n in topo.probe_notes)


def test_json_report_keeps_findings_and_status(tmp_path: Path) -> None:
    from tpdoctor.node.verdict import report_for

    report = report_for(load(EXAMPLE))
    path = tmp_path / "tpdoctor.model.contract"
    path.write_text(render(report))
    again = load_report(path)
    assert again == report


def test_collect_dir_with_only_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "snapshot.json").write_text(render(Report(topology=load(EXAMPLE))))
    assert load(tmp_path) == load(EXAMPLE)


def test_collect_dir_takes_captured_at_from_its_snapshot(tmp_path: Path) -> None:
    for f in EXAMPLE.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    data = json.loads(render(Report(topology=load(EXAMPLE))))
    data["captured_at"] = "2026-01-02T03:04:05Z"
    (tmp_path / "snapshot.json").write_text(json.dumps(data))
    assert load(tmp_path).captured_at == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize("content, expect", [
    (b"", "topo -m"),
    (b"hello world\n", "topo -m"),
    (b"\x00\x01\x02binary", "binary file"),
    (b'{"schema": "tpdoctor/v0"}', "schema is 'tpdoctor/v0'"),
    (b'{"schema": "tpdoctor/v1", "gpus": ', "not JSON"),
])
def test_bad_files_are_parse_errors_naming_the_file(tmp_path: Path, content: bytes, expect: str) -> None:
    path = tmp_path / "capture.txt"
    path.write_bytes(content)
    with pytest.raises(ParseError) as info:
        load(path)
    assert str(path) in info.value.message
    assert expect in info.value.message


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.txt: no such file"):
        load(tmp_path / "nope.txt")


def test_directory_that_is_not_a_collect_dir(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ParseError, match="not a collect directory"):
        load(tmp_path)


def test_bad_optional_file_in_a_collect_dir_is_a_note(tmp_path: Path) -> None:
    for f in EXAMPLE.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "nvlink-status.txt").write_text("this is not nvlink output\n")
    topo = load(tmp_path)
    assert any(n.startswith("ignored nvlink-status.txt") for n in topo.probe_notes), topo.probe_notes
    assert all(g.nvlinks == () for g in topo.gpus)


def test_there_are_topo_m_fixtures() -> None:
    assert len(TOPO_M_FIXTURES) >= 30


@pytest.mark.parametrize("path", TOPO_M_FIXTURES, ids=lambda p: p.stem[:40])
def test_every_topo_m_fixture_loads_or_names_itself(path: Path) -> None:
    try:
        topo = load(path)
    except ParseError as exc:
        assert str(path) in exc.message
        return
    assert topo.gpus
