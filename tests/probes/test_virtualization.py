"""A GPU passed through to a VM whose driver exposes no NVLink port (the real H100 capture of
fixtures/collect/h100-sxm-vm-passthrough): "no NVLink port here" is a made observation only with both
pieces of evidence, the VM (NVML nvmlDeviceGetVirtualizationMode or `nvidia-smi -q`) and a definite empty
answer (NVML NotSupported at link 0, `nvlink --status` exit 0 with no output). On bare metal, or with the
mode unknown, the same silence stays "NVLink port states not checked"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.fakenvml import load
from tests.fakenvml.machine import VIRTUALIZATION, load_machine
from tests.probes.test_nvml_merge import smi_runner
from tpdoctor.cli import main
from tpdoctor.model import contract
from tpdoctor.model.coverage import coverage, not_made
from tpdoctor.model.findings import Report
from tpdoctor.model.links import VM_NOT_EXPOSED
from tpdoctor.model.topology import CheckState
from tpdoctor.model.unknown import Unknown
from tpdoctor.model.virtualization import from_text
from tpdoctor.probes import probe_live
from tpdoctor.probes.replay import load as replay
from tpdoctor.probes.smi_fabric import parse_query_fabric

CAPTURE = FIXTURES / "collect" / "h100-sxm-vm-passthrough"
ONE, TWO = "h100-sxm-vm-passthrough-1gpu", "h100-sxm-vm-passthrough-2gpu"
VM_REASON = "GPU0 is passed through to a VM and the driver exposes no NVLink port"


def checks(topo: object) -> dict[str, tuple[str, str]]:
    return {c.name: (c.state.value, c.reason) for c in coverage(topo)}  # type: ignore[arg-type]


def bare_metal(name: str) -> object:
    machine = load_machine(FIXTURES / "nvml" / f"{name}.yaml")
    for g in machine.gpus:
        g.virtualization = VIRTUALIZATION["none"]
    return machine


def test_query_txt_virtualization_words() -> None:
    assert [from_text(t) for t in ("None", "Pass-Through", "VGPU", "Host VGPU", "Host VSGA")] == \
        ["none", "pass-through", "vgpu", "host-vgpu", "host-vsga"]
    parsed = parse_query_fabric((CAPTURE / "query.txt").read_text())
    assert [g.virtualization for g in parsed.gpus] == ["pass-through"]
    assert not parsed.notes or all("virtualization" not in n for n in parsed.notes)


def test_replay_of_the_real_capture_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    topo = replay(CAPTURE)
    g = topo.gpu(0)
    assert (g.virtualization, g.nvlinks, g.nvlinks_unread) == ("pass-through", (), None)
    c = checks(topo)
    assert c["nvlink_ports"] == ("not_applicable", VM_REASON)
    assert c["nvlink_errors"] == ("not_applicable", VM_REASON)
    assert not not_made(topo)
    assert not any("empty text" in n for n in topo.probe_notes)  # the three empty files are explained once
    assert any(n.startswith("nvlink-status.txt is empty") and VM_REASON in n for n in topo.probe_notes)
    rc = main(["scan", "--from", str(CAPTURE), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["status"] == "ok" and report["findings"] == []
    assert report["gpus"][0]["virtualization"] == "pass-through"


def test_replay_without_the_vm_evidence_stays_unknown(tmp_path: Path) -> None:
    """The same empty `nvlink --status` on bare metal, or with no `nvidia-smi -q`, is a check not made."""
    metal = tmp_path / "bare-metal"
    shutil.copytree(CAPTURE, metal)
    q = metal / "query.txt"
    q.write_text(q.read_text().replace("Virtualization Mode                            : Pass-Through",
                                       "Virtualization Mode                            : None"))
    no_q = tmp_path / "no-query"
    shutil.copytree(CAPTURE, no_q)
    (no_q / "query.txt").unlink()
    for d, mode in ((metal, "none"), (no_q, None)):
        topo = replay(d)
        g = topo.gpu(0)
        assert (g.virtualization if isinstance(g.virtualization, str) else None) == mode
        assert "did not parse (empty text" in str(g.nvlinks_unread)
        health = {"gpu_health"} if d is no_q else set()  # no `nvidia-smi -q`: no health read either
        assert {c.name for c in not_made(topo)} == {"nvlink_ports", "nvlink_errors", *health}
        assert any("ignored nvlink-status.txt line 1: empty text" in n for n in topo.probe_notes)


def test_fake_nvml_one_gpu_vm_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nvml = load(ONE)
    topo = probe_live("nvml", nvml_lib=nvml)
    g = topo.gpu(0)
    assert (g.virtualization, g.nvlinks, g.nvlinks_unread) == ("pass-through", (), None)
    assert nvml._fake_lib.calls["nvmlDeviceGetNvLinkState"] == 1  # NotSupported at link 0: no NVLink here
    assert checks(topo)["nvlink_ports"] == ("not_applicable", VM_REASON)
    snap = tmp_path / "vm.json"
    snap.write_text(contract.render(Report(topology=topo)))
    assert main(["health", "--from", str(snap)]) == 0
    assert capsys.readouterr().out.startswith("TPDOCTOR OK - 1 GPU healthy")


def test_fake_nvml_same_gpu_on_bare_metal_stays_unknown() -> None:
    topo = probe_live("nvml", nvml_lib=load(bare_metal(ONE)))  # type: ignore[arg-type]
    assert topo.gpu(0).virtualization == "none"
    gaps = not_made(topo)
    assert [c.name for c in gaps] == ["nvlink_ports"]
    assert "no NVLink ports recorded although the NVIDIA H100 80GB HBM3 has NVLink" in gaps[0].reason


def test_mode_not_read_stays_unknown() -> None:
    machine = load_machine(FIXTURES / "nvml" / f"{ONE}.yaml")
    machine.gpus[0].virtualization = None  # NotSupported: no evidence of a VM
    topo = probe_live("nvml", nvml_lib=load(machine))
    assert topo.gpu(0).virtualization == Unknown("NVMLError_NotSupported")
    assert [c.name for c in not_made(topo)] == ["nvlink_ports"]


def test_nvml_merged_with_the_real_nvidia_smi_outputs() -> None:
    """What the lent machine ran: NVML first, nvidia-smi (empty `nvlink` outputs, -q Pass-Through) merged in."""
    topo = probe_live("auto", runner=smi_runner(CAPTURE), nvml_lib=load(ONE))
    assert topo.gpu(0).virtualization == "pass-through"
    assert not [c.name for c in not_made(topo)]
    assert not any("empty text" in n for n in topo.probe_notes)
    # the mode reaches the merge from nvidia-smi -q when NVML would not say
    machine = load_machine(FIXTURES / "nvml" / f"{ONE}.yaml")
    machine.gpus[0].virtualization = None
    topo = probe_live("auto", runner=smi_runner(CAPTURE), nvml_lib=load(machine))
    assert topo.gpu(0).virtualization == "pass-through" and not not_made(topo)


def test_two_gpus_in_a_vm_warn_and_the_pair_is_honest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = probe_live("nvml", nvml_lib=load(TWO))
    (pair,) = topo.gpu_links()
    assert (pair.path, pair.nvlinks, pair.nvlinks_expected, pair.health.value) == ("PHB", 0, 0, "ok")
    assert pair.evidence["expected_from"] == VM_NOT_EXPOSED
    assert all(c.state is not CheckState.NOT_MADE for c in coverage(topo))
    snap = tmp_path / "vm2.json"
    snap.write_text(contract.render(Report(topology=topo)))
    rc = main(["health", "--from", str(snap), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1 and report["status"] == "warning"
    (f,) = report["findings"]
    assert f["rule"] == "TPD125" and f["severity"] == "warning"
    assert f["message"] == ("GPU0, GPU1 are passed through to a VM and the driver exposes no NVLink port: "
                            "tensor-parallel traffic between them crosses PCIe (GPU0-GPU1 PHB) although the "
                            "NVIDIA H100 80GB HBM3 has NVLink")
    assert "fabricmanager" in f["recommendation"] and "tensor-parallel 1" in f["recommendation"]


def test_two_gpus_on_bare_metal_are_unknown_not_a_vm_warning() -> None:
    topo = probe_live("nvml", nvml_lib=load(bare_metal(TWO)))  # type: ignore[arg-type]
    assert "nvlink_ports" in {c.name for c in not_made(topo)}
    assert topo.gpu_links()[0].evidence["expected_from"] != VM_NOT_EXPOSED


def test_old_reports_without_the_field_read_as_unknown() -> None:
    data = json.loads((CAPTURE / "snapshot.json").read_text())  # written by main before the field existed
    assert "virtualization" not in data["gpus"][0]
    topo = contract.loads(json.dumps(data)).topology
    assert isinstance(topo.gpu(0).virtualization, Unknown)
    assert [c.name for c in not_made(topo)] == ["nvlink_ports"]  # its own coverage record: still not made
    rendered = json.loads(contract.render(Report(topology=replay(CAPTURE))))
    back = contract.loads(json.dumps(rendered)).topology
    assert back.gpu(0).virtualization == "pass-through"


def test_scan_and_health_bench_on_one_gpu_make_the_report(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPDOCTOR_HOST", "vm")  # the capture's host: --bench measures this machine
    for cmd in ("scan", "health"):
        rc = main([cmd, "--from", str(CAPTURE), "--bench", "--json"])
        out = capsys.readouterr()
        report = json.loads(out.out)
        assert rc == 0 and report["status"] == "ok" and report["bench"] == [], out.err
        assert "--bench not applicable (1 GPU: nothing to all-reduce); no all-reduce measured" in \
            report["probe_notes"]


def test_bench_node_on_one_gpu_keeps_its_one_line_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("bench", "--node", "--backend", "gloo", "--from", str(CAPTURE), env={"TPDOCTOR_HOST": "vm"},
                  timeout=120)
    assert res.returncode == 3
    assert res.stderr.strip().splitlines()[-1] == \
        "tpdoctor: error: an all-reduce needs at least two ranks; 1 available"
