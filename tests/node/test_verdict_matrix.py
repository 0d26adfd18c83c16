"""Never a false OK (issue 11): one test per row of the verdict matrix in docs/health.md ("Verdict
matrix"), each on a fixture of its own (fixtures/verdicts/, fixtures/nvml/). The matrix quotes what `main`
said before (66e46f8, run by hand on the same fixtures); these tests assert what tpdoctor says now. Test
names start with their row number, and `test_every_matrix_row_has_a_test` keeps the two in step.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, FIXTURES
from tests.fakenvml import load
from tests.topologies import scenario
from tpdoctor.cli import main
from tpdoctor.model import contract as report_json
from tpdoctor.model.bench import BenchResult
from tpdoctor.model.findings import Report
from tpdoctor.probes import probe_live

VERDICTS = FIXTURES / "verdicts"
DOC = Path(__file__).resolve().parents[2] / "docs" / "health.md"


def test_every_matrix_row_has_a_test() -> None:
    import re

    text = DOC.read_text(encoding="utf-8").split("## Verdict matrix", 1)[1]
    rows = re.findall(r"^\| (\d[a-g]?) \|", text, re.MULTILINE)
    assert len(rows) >= 20
    tests = " ".join(name for name in globals() if name.startswith("test_"))
    for row in rows:
        assert re.search(rf"test_(\w*_)?{row}_", tests), f"matrix row {row} has no test"


def health(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], dict | None]:
    """`tpdoctor health ... --json`: exit code, the Nagios lines (stderr), the report."""
    rc = main(["health", *args, "--json"])
    out = capsys.readouterr()
    return rc, out.err.splitlines(), json.loads(out.out) if out.out.strip() else None


def not_made(report: dict) -> set[str]:
    return {c["name"] for c in report["coverage"] if c["state"] == "not_made"}


def rules(report: dict) -> list[str]:
    return [f["rule"] for f in report["findings"]]


def test_1a_topo_and_query_only_is_unknown_with_the_bridge_suspect(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "h100nvl-topo-query-only"))
    assert rc == 3 and report is not None and report["status"] == "unknown"
    assert lines[0].startswith("TPDOCTOR UNKNOWN - not checked: GPU pair NVLink health, NVLink port states")
    assert "(`nvidia-smi nvlink --status`); GPU0-GPU1 bridge missing or its links down" in lines[0]
    assert rules(report) == ["TPD113"] and report["findings"][0]["severity"] == "warning"
    assert not_made(report) == {"links", "nvlink_ports", "nvlink_errors", "p2p", "gpu_health"}
    pair = next(lk for lk in report["links"] if (lk["a"], lk["b"]) == ("GPU0", "GPU1"))
    assert pair["health"] == "unknown" and pair["nvlinks_expected"] is None
    assert "bridge missing or its links down" in pair["unknown"]["nvlinks_expected"]


def test_1b_live_query_gpu_failing_is_unknown(run_cli, fakesmi_env) -> None:  # type: ignore[no-untyped-def]
    env = fakesmi_env("fail", directory=VERDICTS / "h100nvl-healthy", match="query-gpu")
    res = run_cli("health", "--probe", "smi", env=env)
    assert res.returncode == 3, res.stdout + res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("TPDOCTOR UNKNOWN - not checked: GPU models and PCIe links (`nvidia-smi --query-gpu=")
    assert "`nvidia-smi --query-gpu=index,name,uuid" in first and "exited with status 255" in first


def test_1c_live_nvlink_status_hanging_is_unknown(run_cli, fakesmi_env) -> None:  # type: ignore[no-untyped-def]
    env = {**fakesmi_env("hang", match="nvlink --status"), "TPDOCTOR_PROBE_TIMEOUT": "1"}
    res = run_cli("health", "--probe", "smi", env=env, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    out = res.stdout
    assert out.startswith("TPDOCTOR UNKNOWN - not checked: GPU pair NVLink health, NVLink port states")
    assert "NOT CHECKED NVLink port states [GPU0, GPU1, GPU2, GPU3]: NVLink port states not read: " \
           "`nvidia-smi nvlink --status` failed: nvidia-smi nvlink --status timed out after 1 s" in out
    assert "WARNING TPD113 bridge-missing-or-down GPU0-GPU1" in out


def test_1d_capture_cut_short_is_unknown_not_54_pairs_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "dgx2-v100x16-topo-m-cut-after-gpu3.txt"))
    assert rc == 3 and report is not None and report["findings"] == []
    assert "`topo -m` rows stop after GPU3 (4 of the 16 GPUs its header names): the capture is cut short" \
           in lines[0]
    links = report["links"]
    assert sum(lk["health"] == "unknown" for lk in links) == 66 and sum(lk["health"] == "ok" for lk in links) == 54
    assert "nvlinks_unknown=66" in lines[0]


def test_1e_capture_cut_short_invents_no_critical(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, report = health(capsys, "--from", str(VERDICTS / "hgx-h100x8-topo-m-cut-after-gpu5.txt"))
    assert rc == 3 and report is not None and report["findings"] == []
    pair = next(lk for lk in report["links"] if (lk["a"], lk["b"]) == ("GPU6", "GPU7"))
    assert pair["health"] == "unknown" and "capture is cut short" in pair["evidence"]["unseen"]


def test_1f_raw_topo_m_alone_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(EXAMPLE / "topo-m.txt"))
    assert rc == 3 and report is not None
    assert not_made(report) == {"nvlink_ports", "nvlink_errors", "gpu_info", "p2p", "gpu_health"}
    assert any("not in a raw `topo -m` capture (`tpdoctor collect DIR` saves every output)" in line
               for line in lines)


def test_1g_a_rule_that_cannot_judge_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "rules"
    site.mkdir()
    (site / "SITE001.yaml").write_text(
        "id: SITE001\nname: busy-or-narrow\nscope: node\neach: gpu\nseverity: warning\n"
        "summary: A busy or narrow GPU.\nwhen: gpu.busy || gpu.pcie_width_current < 8\n"
        "message: \"{gpu.id} busy or narrow\"\nrecommendation: Check it.\n"
        "docs: {why: Site rule., verify: nvidia-smi -q., remediation: Check it., references: []}\n")
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "h100nvl-healthy"), "--rules", str(site))
    assert rc == 3 and report is not None and report["status"] == "unknown"
    assert lines[0].startswith("TPDOCTOR UNKNOWN - not checked: rule verdicts: SITE001 could not judge 4 subject(s)")


def _with_bench(tmp_path: Path, result: BenchResult) -> Path:
    snap = tmp_path / "report.json"
    snap.write_text(report_json.render(Report(topology=scenario("h100-nvl-healthy"), bench=(result,))))
    return snap


HUNG = BenchResult(group=(0, 1), backend="nccl", bytes=1 << 28, time_us=0.0, algbw_gbps=0.0, busbw_gbps=0.0,
                   correct=False, error="watchdog: GPU0+GPU1 did not finish 256M within 60 s; ranks killed")


def test_2a_2b_a_failed_measurement_is_critical_and_never_the_baseline(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    snap = _with_bench(tmp_path, HUNG)
    rc, lines, report = health(capsys, "--from", str(snap))
    assert rc == 2 and report is not None and rules(report) == ["TPD109"]
    assert lines[0].startswith("TPDOCTOR CRITICAL - GPU0+GPU1 all-reduce measurement failed (1 run(s)): watchdog")
    baseline = tmp_path / "baseline.json"
    rc, lines, report = health(capsys, "--from", str(snap), "--baseline", str(baseline))
    assert rc == 2 and not baseline.exists() and report is not None
    assert report["baseline"]["state"] == "not_written" and "no baseline written (node not clean" in lines[0]


def test_2c_bench_json_judges_the_node_like_scan(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT, cli_env

    here = tmp_path / "node"
    shutil.copytree(EXAMPLE, here)
    (here / "host.txt").write_text(socket.gethostname() + "\n")
    res = subprocess.run([sys.executable, "-m", "tpdoctor", "bench", "--backend", "gloo", "--gpus", "2,3",
                          "--sizes", "4K", "--iters", "2", "--warmup", "1", "--from", str(here), "--json"],
                         cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr  # the measurement itself was fine
    data = json.loads(res.stdout)
    assert data["status"] == "critical" and rules(data) == ["TPD100"]  # the node is not: fleet sees that


def test_3_bench_with_a_capture_of_another_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--from", str(EXAMPLE), "--bench"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("tpdoctor: error: --bench measures this machine (") and "capture of gpu01" in err[0]
    rc, lines, report = health(capsys, "--from", str(EXAMPLE), "--bench")
    assert rc == 3 and report is None and lines[0].startswith("TPDOCTOR UNKNOWN - --bench measures this machine")
    assert main(["bench", "--backend", "gloo", "--pairs", "--from", str(EXAMPLE)]) == 3
    assert "bench --from measures this machine" in capsys.readouterr().err


def test_4a_the_baseline_is_the_expectation_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    rc, _, report = health(capsys, "--from", str(VERDICTS / "a6000x2-bridged"), "--baseline", str(baseline))
    assert rc == 0 and baseline.exists() and report is not None and report["baseline"]["state"] == "written"
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "a6000x2-bridge-dark"), "--baseline", str(baseline))
    assert rc == 2 and report is not None and rules(report) == ["TPD100", "TPD107"]
    (pair,) = report["links"]
    assert (pair["health"], pair["nvlinks"], pair["nvlinks_expected"], pair["evidence"]["expected_from"]) == \
        ("down", 0, 4, "baseline")
    # check-deployment reads the same report and sees a TP group on a broken NVLink
    now = tmp_path / "now.json"
    now.write_text(json.dumps(report))
    job = tmp_path / "job.yaml"
    job.write_text("name: llama8b\nengine: vllm\nmodel: meta-llama/Llama-3.1-8B-Instruct\ntp: 2\ngpus: [0, 1]\n")
    assert main(["check-deployment", str(job), "--topology", str(now), "--json"]) == 2
    assert "TPD200" in [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]]
    # without the baseline, PHB on two unbridged cards is a legitimate layout: no NVLink expected
    rc, _, _ = health(capsys, "--from", str(VERDICTS / "a6000x2-bridge-dark"))
    assert rc == 0


def test_4b_first_run_on_a_broken_node_says_no_baseline_and_accept_records_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    rc, lines, report = health(capsys, "--from", str(EXAMPLE), "--baseline", str(baseline))
    assert rc == 2 and not baseline.exists() and report is not None
    assert "; no baseline written (node not clean at its first run); drift detection is off until a clean run, " \
           "or --accept-baseline records the node as is |" in lines[0]
    assert report["baseline"] == {"path": str(baseline), "state": "not_written",
                                  "reason": report["baseline"]["reason"]}
    rc, lines, report = health(capsys, "--from", str(EXAMPLE), "--baseline", str(baseline), "--accept-baseline")
    assert rc == 2 and baseline.exists() and report is not None and report["baseline"]["state"] == "accepted"
    rc, lines, report = health(capsys, "--from", str(EXAMPLE), "--baseline", str(baseline))
    assert rc == 0 and report is not None and report["findings"] == []  # the dead bridge is this node's normal
    # a partial capture cannot become the expectation
    partial = tmp_path / "partial.json"
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "h100nvl-topo-query-only"), "--baseline",
                               str(partial), "--accept-baseline")
    assert rc == 3 and not partial.exists() and report is not None and report["baseline"]["state"] == "refused"
    assert main(["health", "--from", str(EXAMPLE), "--accept-baseline"]) == 3  # needs --baseline


def _nvml_health(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                 timeout: float | None = None) -> tuple[int, list[str], dict]:
    topo = probe_live("nvml", nvml_lib=load(name), timeout_seconds=timeout)
    snap = tmp_path / f"{name}.json"
    snap.write_text(report_json.render(Report(topology=topo)))
    rc, lines, report = health(capsys, "--from", str(snap))
    assert report is not None
    return rc, lines, report


def test_5a_fabric_manager_down_is_one_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = _nvml_health("hgx-a100-fabric-manager-down", tmp_path, capsys)
    assert rc == 2 and rules(report) == ["TPD110"]
    fix = report["findings"][0]["recommendation"]
    assert "systemctl status nvidia-fabricmanager" in fix and "nvidia-smi -q | grep -A3 Fabric" in fix
    assert "bridge" not in json.dumps(report["findings"])
    assert sum(lk["health"] == "down" for lk in report["links"]) == 28  # the links still say so


def test_5b_all_dark_read_by_nvidia_smi(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "hgx-h100-all-nvlinks-dark"))
    assert rc == 2 and report is not None and rules(report) == ["TPD110"]
    assert not_made(report) == {"fabric", "gpu_health"}  # no `nvidia-smi -q` in this capture
    assert "NOT CHECKED NVSwitch fabric state [GPU0, GPU1, GPU2, GPU3, GPU4, GPU5, ...]" in "\n".join(lines)


def test_5c_a_gpu_that_lost_every_link_is_one_gpu_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = _nvml_health("hgx-h100-gpu3-nvlinks-dark", tmp_path, capsys)
    assert rc == 2 and [(f["rule"], f["subject"]) for f in report["findings"]] == [("TPD111", "GPU3")]


def test_5d_5e_pcie_slot_and_the_tpd103_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "h100nvl-gpu3-slot-gen3-x8"))
    assert rc == 1 and report is not None and rules(report) == ["TPD112"]
    assert lines[0].startswith("TPDOCTOR WARNING - GPU3 sits in a slot or riser that limits it to Gen3 x8; the "
                               "NVIDIA H100 NVL itself does Gen5 x16")
    rc, lines, report = health(capsys, "--from", str(VERDICTS / "h100nvl-gpu3-x8"))
    assert rc == 1 and report is not None and rules(report) == ["TPD103"]
    assert lines[0].startswith("TPDOCTOR WARNING - GPU3 PCIe link at Gen5 x8 (slot max Gen5 x16, the GPU itself "
                               "Gen5 x16)")
    assert "unknown" not in report["findings"][0]["message"]


def test_6a_remote_bus_id_bytes_that_are_not_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, report = _nvml_health("h100nvl-4x-remote-bus-id-bad-bytes", tmp_path, capsys)
    assert rc == 2 and rules(report) == ["TPD100"]
    gpu2 = report["gpus"][2]
    active = [p for p in gpu2["nvlinks"] if p["state"] == "active"]
    assert len(active) == 12 and all(p["remote_pci_bus_id"] is None for p in active)
    assert "not text" in active[0]["unknown"]["remote_pci_bus_id"]
    pair = next(lk for lk in report["links"] if (lk["a"], lk["b"]) == ("GPU2", "GPU3"))
    assert (pair["path"], pair["health"]) == ("NV12", "ok")  # counted from GPU3's side


def test_6b_empty_remote_bus_ids_in_a_vm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = _nvml_health("h100nvl-4x-vm-empty-remote-bus-ids", tmp_path, capsys)
    assert rc == 0 and lines[0].startswith("TPDOCTOR OK - 4 GPUs, 2 NVLink pairs healthy")


def test_6c_slow_nvml_init_has_its_own_deadline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    rc, _, report = _nvml_health("h100nvl-4x-slow-nvml-init", tmp_path, capsys, timeout=0.5)
    assert time.monotonic() - started >= 1.0  # nvmlInit took its second, and the read waited for it
    assert rc == 2 and rules(report) == ["TPD100"]


def test_6d_field_147_zero_is_not_a_switch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = _nvml_health("hgx-h100-4gpu-mesh-field147-zero", tmp_path, capsys)
    assert rc == 0 and lines[0].startswith("TPDOCTOR OK - 4 GPUs, 6 NVLink pairs healthy")
    assert {lk["nvlinks_expected"] for lk in report["links"]} == {6}


VM_CAPTURE = FIXTURES / "collect" / "h100-sxm-vm-passthrough"
VM_REASON = "GPU0 is passed through to a VM and the driver exposes no NVLink port"


def test_7a_real_vm_capture_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = health(capsys, "--from", str(VM_CAPTURE))
    assert rc == 0 and report is not None and lines[0].startswith("TPDOCTOR OK - 1 GPU healthy")
    ports = next(c for c in report["coverage"] if c["name"] == "nvlink_ports")
    assert (ports["state"], ports["reason"]) == ("not_applicable", VM_REASON)


def test_7b_7c_fake_nvml_vm_is_ok_and_bare_metal_is_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fakenvml.machine import load_machine

    rc, lines, report = _nvml_health("h100-sxm-vm-passthrough-1gpu", tmp_path, capsys)
    assert rc == 0 and not not_made(report) and report["gpus"][0]["virtualization"] == "pass-through"
    for mode in (0, None):  # NVML_GPU_VIRTUALIZATION_MODE_NONE; NotSupported (mode unread)
        machine = load_machine(FIXTURES / "nvml" / "h100-sxm-vm-passthrough-1gpu.yaml")
        machine.gpus[0].virtualization = mode
        topo = probe_live("nvml", nvml_lib=load(machine))
        snap = tmp_path / f"metal-{mode}.json"
        snap.write_text(report_json.render(Report(topology=topo)))
        rc, lines, report = health(capsys, "--from", str(snap))
        assert rc == 3 and report is not None and not_made(report) == {"nvlink_ports"}
        assert "no NVLink ports recorded although the NVIDIA H100 80GB HBM3 has NVLink" in lines[0]


def test_7d_two_gpus_in_a_vm_without_nvlink_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, report = _nvml_health("h100-sxm-vm-passthrough-2gpu", tmp_path, capsys)
    assert rc == 1 and rules(report) == ["TPD125"] and not not_made(report)
    assert "crosses PCIe (GPU0-GPU1 PHB)" in lines[0]
    (pair,) = report["links"]
    assert (pair["health"], pair["nvlinks_expected"], pair["evidence"]["expected_from"]) == \
        ("ok", 0, "vm:nvlink-not-exposed")


def test_7e_bench_on_one_gpu_makes_the_report(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPDOCTOR_HOST", "vm")
    rc, lines, report = health(capsys, "--from", str(VM_CAPTURE), "--bench")
    assert rc == 0 and report is not None and report["bench"] == []
    assert "--bench not applicable (1 GPU: nothing to all-reduce); no all-reduce measured" in report["probe_notes"]
