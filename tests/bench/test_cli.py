"""`tpdoctor bench` end to end on gloo ranks, its JSON contract, its errors and the missing-torch path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.helpers import requires_torch
from tpdoctor import SCHEMA
from tpdoctor.model.contract import loads

ROOT = Path(__file__).resolve().parents[2]


def _tpdoctor(*args: str, pre: str = "pass") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {pre}; from tpdoctor.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=180)


@requires_torch
def test_json_report_has_the_bench_list_and_round_trips() -> None:
    proc = _tpdoctor("bench", "--backend", "gloo", "--world-size", "3", "--sizes", "1K,16K", "--iters", "2",
                     "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == SCHEMA and data["status"] == "ok" and data["source"] == "bench"
    assert [g["index"] for g in data["gpus"]] == [0, 1, 2]
    assert [(b["group"], b["bytes"], b["correct"], b["label"]) for b in data["bench"]] == \
        [([0, 1, 2], 1024, True, "node"), ([0, 1, 2], 16384, True, "node")]
    report = loads(proc.stdout)
    assert report.bench[0].busbw_gbps == data["bench"][0]["busbw_gbps"]
    # stderr is not a TTY here (a Slurm or cron log): one progress line per measured size all the same
    progress = [line for line in proc.stderr.splitlines() if line.startswith("tpdoctor bench:")]
    assert [line.split()[2:4] for line in progress] == [["rank0+rank1+rank2", "1K:"], ["rank0+rank1+rank2", "16K:"]]


@requires_torch
def test_pairs_text_shows_summary_and_heatmap() -> None:
    proc = _tpdoctor("bench", "--backend", "gloo", "--pairs", "--world-size", "3", "--sizes", "4K",
                     "--iters", "2", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    assert "pairwise all-reduce busbw" in proc.stdout
    for pair in ("rank0+rank1", "rank0+rank2", "rank1+rank2"):  # gloo ranks are CPU processes, not GPUs
        assert pair in proc.stdout
    assert "GPU0" not in proc.stdout


def test_without_torch_exit_3_with_the_install_line() -> None:
    proc = _tpdoctor("bench", "--backend", "gloo", "--world-size", "2", pre="sys.modules['torch'] = None")
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install torch" in lines[0] and "download.pytorch.org/whl/cpu" in lines[0]


@requires_torch
def test_usage_errors_exit_3() -> None:
    for args, needle in (
        (["--pairs", "--node"], "choose one"),
        (["--sizes", "1X"], "not a size"),
        (["--gpus", "0"], "two or more"),
        (["--sequential"], "--pairs"),
        (["--gpus", "0,5", "--world-size", "2"], "not among"),
    ):
        proc = _tpdoctor("bench", "--backend", "gloo", *args)
        assert proc.returncode == 3, (args, proc.stderr)
        assert needle in proc.stderr, (args, proc.stderr)


@requires_torch
def test_watchdog_in_the_command_gives_exit_2_and_an_error_naming_the_group() -> None:
    # 64 MiB × 20 all-reduces on gloo take far longer than the 0.05 s step deadline
    proc = _tpdoctor("bench", "--backend", "gloo", "--world-size", "2", "--sizes", "64M", "--iters", "20",
                     "--warmup", "1", "--timeout", "0.05", "--json")
    assert proc.returncode == 2, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "critical"
    (result,) = data["bench"]
    assert "watchdog" in result["error"] and "rank0+rank1" in result["error"] and result["busbw_gbps"] == 0.0


@requires_torch
def test_from_topology_gets_pair_busbw_on_its_links(tmp_path: Path) -> None:
    import socket
    from dataclasses import replace

    from tests.topologies import scenario
    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report

    full = scenario("h100-nvl-healthy")  # a capture of this machine (bench --from another host is refused)
    topo = replace(full, host=socket.gethostname(), gpus=full.gpus[:2],
                   links=tuple(lk for lk in full.links if (lk.a, lk.b) == ("GPU0", "GPU1")))
    path = tmp_path / "node.json"
    path.write_text(render(Report(topology=topo)))
    proc = _tpdoctor("bench", "--backend", "gloo", "--pairs", "--sizes", "4K,64K", "--iters", "2",
                     "--warmup", "1", "--from", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["host"] == socket.gethostname() and data["status"] == "ok"
    (link,) = data["links"]
    assert link["busbw_gbps"] == max(b["busbw_gbps"] for b in data["bench"]) > 0


def test_scan_side_modules_never_import_torch() -> None:
    code = ("import sys\n"
            "import tpdoctor.bench.session, tpdoctor.bench.runner, tpdoctor.commands.bench\n"
            "import tpdoctor.bench.launch, tpdoctor.bench.watch, tpdoctor.bench.lifeline, tpdoctor.bench.devices\n"
            "import tpdoctor.bench.backend\n"
            "import tpdoctor.report.bench_text, tpdoctor.model.expected_busbw, tpdoctor.model.attach\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == 0, proc.stderr
