"""The live path end to end: `python -m tpdoctor scan` with a fake `nvidia-smi` on PATH."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import EXAMPLE
from tpdoctor.bench.procs import is_alive  # /proc: a zombie counts as dead
from tpdoctor.probes.smi_probe import COMMANDS


def _links(data: dict) -> dict[str, dict]:
    return {f"{lk['a']}-{lk['b']}": lk for lk in data["links"]}


def test_ok_reads_the_example_node_live(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", "--json", env=fakesmi_env())
    assert res.returncode == 2, res.stderr  # GPU0–GPU1 NVLink down: critical
    data = json.loads(res.stdout)
    assert data["schema"] == "tpdoctor/v1"
    assert data["source"] == "nvidia-smi"
    assert [g["name"] for g in data["gpus"]] == ["NVIDIA H100 NVL"] * 4
    links = _links(data)
    assert links["GPU0-GPU1"]["health"] == "down"
    assert links["GPU0-GPU1"]["path"] == "NODE"
    assert links["GPU0-GPU1"]["nvlinks_expected"] == 12
    assert links["GPU2-GPU3"]["health"] == "ok"
    assert links["GPU2-GPU3"]["path"] == "NV12"
    assert data["status"] == "critical"
    # the example was captured before tpdoctor read `nvidia-smi -q`: that one optional command has nothing
    failed = [n for n in data["probe_notes"] if "failed" in n]
    assert [n for n in failed if not n.startswith("optional `nvidia-smi -q` failed")] == [], failed


def test_every_command_is_run_once(run_cli, fakesmi_env, tmp_path: Path) -> None:
    env = fakesmi_env()
    run_cli("scan", "--json", env=env)
    calls = (tmp_path / "fakesmi.log").read_text().splitlines()
    assert calls[0] == "topo -m"
    assert sorted(calls) == sorted(set(calls))
    assert {"nvlink --status", "nvlink -e", "nvlink -c", "topo -p2p r", "topo -p2p w", "topo -p2p n"} <= set(calls)
    assert any(c.startswith("--query-gpu=index,name,uuid,pci.bus_id,memory.total") for c in calls)


def test_rich_view_shows_the_down_link(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", env=fakesmi_env())
    assert res.returncode == 2
    assert "✗NV12→NODE" in res.stdout
    assert "GPU0–GPU1 NVLink DOWN" in res.stdout


def test_nonzero_exit_is_unknown_with_one_line(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", env=fakesmi_env("fail"))
    assert res.returncode == 3
    assert res.stdout == ""
    first, *rest = res.stderr.splitlines()
    assert first == ("tpdoctor: error: no usable NVIDIA driver: `nvidia-smi topo -m` says "
                     "'Failed to initialize NVML: Unknown Error'")
    assert "systemctl daemon-reload" in rest[0] and "tpdoctor demo" not in rest[0]
    assert all(line.startswith("  hint:") for line in rest)
    assert "Traceback" not in res.stderr


def test_garbage_is_a_parse_error_not_a_traceback(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", "--json", env=fakesmi_env("garbage"))
    assert res.returncode == 3
    assert res.stdout == ""
    assert res.stderr.startswith("tpdoctor: error: `nvidia-smi topo -m` output:")
    assert "Traceback" not in res.stderr


def test_no_driver_points_to_the_demo(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", env=fakesmi_env("nodriver"))
    assert res.returncode == 3
    lines = res.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tpdoctor: error: no usable NVIDIA driver")
    assert "couldn't communicate with the NVIDIA driver" in lines[0]
    assert "tpdoctor demo" in lines[1] and "scan --from" in lines[1]


def test_missing_nvidia_smi_points_to_the_demo(run_cli, tmp_path: Path) -> None:
    res = run_cli("scan", path=str(tmp_path))
    assert res.returncode == 3
    assert res.stderr.splitlines()[0] == "tpdoctor: error: nvidia-smi not found: no NVIDIA driver on this machine"
    assert "tpdoctor demo" in res.stderr




def test_hang_is_killed_at_the_timeout(run_cli, fakesmi_env, tmp_path: Path) -> None:
    env = {**fakesmi_env("hang"), "TPDOCTOR_PROBE_TIMEOUT": "1"}
    started = time.monotonic()
    res = run_cli("scan", env=env, timeout=30)
    elapsed = time.monotonic() - started
    assert res.returncode == 3
    assert res.stderr.splitlines()[0] == "tpdoctor: error: nvidia-smi topo -m timed out after 1 s"
    assert elapsed < 10
    pids = [int(p) for p in (tmp_path / "fakesmi.pids").read_text().split()]
    assert len(pids) == 2  # the fake and its sleeping child
    assert not any(is_alive(p) for p in pids)


def test_timeout_option_overrides_env(run_cli, fakesmi_env) -> None:
    env = {**fakesmi_env("hang"), "TPDOCTOR_PROBE_TIMEOUT": "60"}
    res = run_cli("scan", "--timeout", "0.5", env=env, timeout=30)
    assert res.returncode == 3
    assert "timed out after 0.5 s" in res.stderr


def test_optional_command_failing_becomes_a_note(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", "--json", env=fakesmi_env("fail", match="nvlink -e"))
    assert res.returncode == 2, res.stderr
    notes = json.loads(res.stdout)["probe_notes"]
    assert any("nvidia-smi nvlink -e" in n and "status 255" in n for n in notes), notes


def test_optional_command_hanging_skips_the_rest(run_cli, fakesmi_env) -> None:
    env = {**fakesmi_env("hang", match="nvlink -e"), "TPDOCTOR_PROBE_TIMEOUT": "1"}
    started = time.monotonic()
    res = run_cli("scan", "--json", env=env, timeout=30)
    assert time.monotonic() - started < 10  # one timeout, not one per remaining command
    assert res.returncode == 2, res.stderr
    notes = json.loads(res.stdout)["probe_notes"]
    assert any("nvlink -e" in n and "timed out after 1 s" in n for n in notes), notes
    assert any(n.startswith("skipped `nvidia-smi nvlink -c`") for n in notes), notes


def test_replays_any_collect_dir(run_cli, fakesmi_env, tmp_path: Path) -> None:
    only_topo = tmp_path / "only-topo"
    only_topo.mkdir()
    (only_topo / "topo-m.txt").write_bytes((EXAMPLE / "topo-m.txt").read_bytes())
    res = run_cli("scan", "--json", env=fakesmi_env(directory=only_topo))
    # the optional commands fail (nothing to replay) and become notes; the matrix is still read, and the
    # verdict says what it could not check: unknown (3), never ok
    assert res.returncode == 3, res.stderr
    data = json.loads(res.stdout)
    assert data["status"] == "unknown"
    assert len(data["gpus"]) == 4
    assert sum("optional" in n for n in data["probe_notes"]) == len(COMMANDS) - 1


def test_optional_command_printing_garbage_becomes_a_note(run_cli, fakesmi_env) -> None:
    res = run_cli("scan", "--json", env=fakesmi_env("garbage", match="nvlink --status"))
    # no port states: GPU0-GPU1 (no NVLink beside a bridged pair) is "bridge missing or its links down",
    # and the status is unknown, naming the output that did not parse
    assert res.returncode == 3, res.stderr
    data = json.loads(res.stdout)
    assert [f["rule"] for f in data["findings"]] == ["TPD113"]
    ports = next(c for c in data["coverage"] if c["name"] == "nvlink_ports")
    assert ports["state"] == "not_made" and "nvlink --status" in ports["reason"]
    assert any(n.startswith("ignored nvlink-status.txt") for n in data["probe_notes"]), data["probe_notes"]
    assert all(g["nvlinks"] == [] for g in data["gpus"])
