"""`-` reads standard input wherever a path argument reads one file (`scan --from -`, `health --from -`,
`fleet -`, `check-deployment --topology -` and `--bench -`), bounded like a file; and `--bench` takes the
text nccl-tests' all_reduce_perf prints, as well as `tpdoctor bench --json`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.files.read import read_bytes
from tpdoctor.model.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
CANONICAL = ROOT / "fixtures" / "deployments" / "canonical-job.yaml"
NCCL = ROOT / "fixtures" / "nccl-tests" / "004-autodl-rtx2080tix2-pcie-no-p2p-8b-1g.txt"


def tpdoctor(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpdoctor", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_a_report_on_stdin_reads_as_the_file_does() -> None:
    report = tpdoctor("scan", "--from", str(EXAMPLE), "--json", stdin="").stdout
    scan = tpdoctor("scan", "--from", "-", "--json", stdin=report)
    assert scan.returncode == 2 and scan.stdout == report
    fleet = tpdoctor("fleet", "-", stdin=report)
    assert fleet.returncode == 2 and "1 nodes (1 critical)" in fleet.stdout
    health = tpdoctor("health", "--from", "-", stdin=(EXAMPLE / "topo-m.txt").read_text())
    assert health.returncode == 3 and health.stdout.startswith("TPDOCTOR UNKNOWN - not checked")  # a raw topo -m


def test_check_deployment_reads_topology_and_nccl_tests_bench_from_stdin_or_a_file() -> None:
    report = tpdoctor("scan", "--from", str(EXAMPLE), "--json", stdin="").stdout
    via_stdin = tpdoctor("check-deployment", str(CANONICAL), "--topology", "-", "--bench", str(NCCL), "--json",
                         stdin=report)
    assert via_stdin.returncode == 2, via_stdin.stderr
    bench = tpdoctor("check-deployment", str(CANONICAL), "--topology", str(EXAMPLE), "--bench", "-",
                     stdin=NCCL.read_text())
    assert bench.returncode == 2, bench.stderr
    other = tpdoctor("check-deployment", str(CANONICAL), "--topology", str(EXAMPLE), "--bench", "-",
                     stdin=(ROOT / "fixtures/nccl-tests/005-autodl-rtx2080ti-reduce_perf-1gpu-broken-columns.txt")
                     .read_text())
    assert other.returncode == 3 and "reduce_perf output" in other.stderr


def test_stdin_is_bounded_like_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Buffer(io.BytesIO):
        def isatty(self) -> bool:
            return False

    class Stdin:
        buffer = Buffer(b"x" * 2048)

    monkeypatch.setattr(sys, "stdin", Stdin())
    with pytest.raises(InputError, match="more than the 1024 bytes"):
        read_bytes("-", max_bytes=1024)


def test_fleet_judges_a_report_on_stdin_as_it_judges_the_file(tmp_path: Path) -> None:
    """A report that claims ok while its topology shows a down link is a contradiction (TPD307) on stdin too:
    the second, whole read of `-` gets the bytes the fleet read, not an empty stream."""
    import json

    data = json.loads(tpdoctor("scan", "--from", str(EXAMPLE), "--json", stdin="").stdout)
    data["status"], data["findings"] = "ok", []
    claims_ok = json.dumps(data)
    (tmp_path / "node.json").write_text(claims_ok)
    via_file = tpdoctor("fleet", str(tmp_path / "node.json"), stdin="")
    via_stdin = tpdoctor("fleet", "-", stdin=claims_ok)
    assert via_file.returncode == 2 and "TPD307" in via_file.stdout, via_file.stdout + via_file.stderr
    assert via_stdin.returncode == 2 and "TPD307" in via_stdin.stdout, via_stdin.stdout + via_stdin.stderr


def test_stdin_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Buffer(io.BytesIO):
        def isatty(self) -> bool:
            return False

    class Stdin:
        buffer = Buffer(b"{}")

    monkeypatch.setattr(sys, "stdin", Stdin())
    assert read_bytes("-") == b"{}" and read_bytes("-") == b"{}"
    with pytest.raises(InputError, match="more than the 1 bytes"):
        read_bytes("-", max_bytes=1)
