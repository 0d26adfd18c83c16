"""`tpdoctor scan --from`, `demo` and `collect` through the CLI (in process, and as a subprocess)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE
from tpdoctor.cli import COMMANDS, main
from tpdoctor.model.contract import loads
from tpdoctor.probes.replay import load


def test_commands_are_registered() -> None:
    assert {"scan", "collect", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("path", [EXAMPLE, EXAMPLE / "topo-m.txt"], ids=["collect-dir", "raw-topo-m"])
def test_scan_from_json(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "--from", str(path), "--json"])
    out = capsys.readouterr().out
    report = loads(out)
    assert report.topology.gpu_link(2, 3).path == "NV12"  # type: ignore[union-attr]
    if path.is_dir():
        assert code == 2 and report.status.value == "critical"
    else:  # topo -m alone cannot show a dark bridge (nor models, PCIe links, P2P): unknown, never ok
        assert code == 3 and report.status.value == "unknown"
        not_made = {c.name for c in report.topology.coverage if c.state.value == "not_made"}
        assert not_made == {"nvlink_ports", "nvlink_errors", "gpu_info", "p2p", "gpu_health"}


def test_scan_from_snapshot_json_equals_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--from", str(EXAMPLE), "--json"]) == 2
    first = capsys.readouterr().out
    snap = tmp_path / "tpdoctor.model.contract"
    snap.write_text(first)
    assert main(["scan", "--from", str(snap), "--json"]) == 2
    assert capsys.readouterr().out == first


def test_scan_from_bad_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["scan", "--from", str(tmp_path / "missing")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("tpdoctor: error: ") and "missing" in err and "Traceback" not in err


def test_usage_error_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--probe", "bogus"]) == 3


def test_nvml_probe_without_libnvidia_ml_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    # the real pynvml on this GPU-less machine: no libnvidia-ml.so.1 to load
    assert main(["scan", "--probe", "nvml"]) == 3
    err = capsys.readouterr().err
    assert "cannot start NVML" in err and "NVMLError_LibraryNotFound" in err and "hint:" in err


def test_demo_says_it_is_the_example(run_cli) -> None:
    res = run_cli("demo")
    assert res.returncode == 0, res.stderr
    assert "DEMO: the bundled example node 'h100nvl-gpu01-nvlink-down'" in res.stdout
    assert "not a live" in res.stdout
    assert "✗NV12→NODE" in res.stdout


def test_demo_json_and_exit_status(run_cli) -> None:
    res = run_cli("demo", "--json", "--exit-status")
    assert res.returncode == 2
    assert json.loads(res.stdout)["status"] == "critical"
    assert "DEMO" in res.stderr


def test_help_for_every_command(run_cli) -> None:
    for name in ("scan", "collect", "demo"):
        res = run_cli(name, "--help")
        assert res.returncode == 0 and "Usage:" in res.stdout, name


def test_scan_imports_no_torch_nor_anything_slow(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import ROOT, cli_env

    eight = next(p for p in (ROOT / "fixtures" / "smi" / "topo-m").glob("004-*h100x8*.txt"))
    code = (
        "import sys\n"
        "from tpdoctor.cli import main\n"
        f"rc = main(['scan', '--from', {str(eight)!r}, '--json'])\n"
        "slow = sorted(m for m in ('torch', 'numpy', 'pandas', 'scipy', 'pynvml', 'celpy', 'cel',\n"
        "    'prompt_toolkit', 'prometheus_client', 'hypothesis', 'tpdoctor.bench.worker', 'tpdoctor.deploy',\n"
        "    'tpdoctor.advice') if m in sys.modules)\n"
        "print('SLOW=' + ','.join(slow), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True,
                         timeout=60, check=False)
    assert "SLOW=\n" in res.stderr, res.stderr
    assert len(loads(res.stdout).topology.gpus) == 8


def test_collect_then_replay(run_cli, fakesmi_env, tmp_path: Path) -> None:
    out = tmp_path / "node"
    res = run_cli("collect", str(out), env=fakesmi_env())
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["topo-m.txt", "topo-p2p-r.txt", "topo-p2p-w.txt", "topo-p2p-n.txt",
                            "nvlink-status.txt", "nvlink-errors.txt", "nvlink-caps.txt", "query-gpu.csv",
                            "query.txt", "mig.csv", "host.txt", "snapshot.json"])
    for name in names:
        if (EXAMPLE / name).exists() and name != "host.txt":
            assert (out / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".node.")]  # no temp dir left
    snap = loads((out / "snapshot.json").read_text()).topology
    replayed = load(out)
    assert snap.gpus == replayed.gpus
    assert snap.links == replayed.links
    scan = run_cli("scan", "--from", str(out), "--json")
    assert scan.returncode == 2


def test_collect_failure_writes_nothing(run_cli, fakesmi_env, tmp_path: Path) -> None:
    out = tmp_path / "node"
    res = run_cli("collect", str(out), env=fakesmi_env("nodriver"))
    assert res.returncode == 3
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".node.")]


def test_collect_refuses_a_nonempty_dir(run_cli, fakesmi_env, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    res = run_cli("collect", str(tmp_path), env=fakesmi_env())
    assert res.returncode == 3
    assert "not an empty directory" in res.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_collect_keeps_unparsable_outputs_for_a_bug_report(run_cli, fakesmi_env, tmp_path: Path) -> None:
    out = tmp_path / "node"
    res = run_cli("collect", str(out), env=fakesmi_env("garbage", match="topo -m"))
    assert res.returncode == 3
    assert (out / "topo-m.txt").exists() and not (out / "snapshot.json").exists()
    assert "do not parse" in res.stderr


def test_scan_bench_measures_pairs_for_real(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`scan --bench`: a real short pairwise all-reduce (gloo ranks on this CPU), busbw onto the links."""
    import socket
    from dataclasses import replace

    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report

    topo = load(EXAMPLE)
    two = replace(topo, gpus=topo.gpus[2:], links=tuple(lk for lk in topo.links if (lk.a, lk.b) == ("GPU2", "GPU3")))
    snap = tmp_path / "pair.json"
    snap.write_text(render(Report(topology=two)))
    assert main(["scan", "--from", str(snap), "--bench", "--json"]) == 3  # a capture of gpu01, not of here
    assert "--bench measures this machine" in capsys.readouterr().err
    snap.write_text(render(Report(topology=replace(two, host=socket.gethostname()))))
    assert main(["scan", "--from", str(snap), "--bench", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["bench"]
    assert result["group"] == [2, 3] and result["backend"] == "gloo" and result["correct"]
    assert report["links"][0]["busbw_gbps"] == result["busbw_gbps"] > 0
