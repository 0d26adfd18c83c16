"""A driver that cannot be reached: UNKNOWN naming it, but CRITICAL on a node whose baseline has GPUs (TPD131),
with every GPU of the baseline named by bus id and UUID (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIXTURES

HEALTHY = FIXTURES / "verdicts" / "h100nvl-healthy"


def test_driver_gone_is_unknown_without_a_baseline_and_critical_with_one(run_cli, fakesmi_env,  # type: ignore[no-untyped-def]
                                                                       tmp_path: Path) -> None:
    gone = {**fakesmi_env("nodriver"), "TPDOCTOR_PROBE_TIMEOUT": "20"}
    res = run_cli("health", "--probe", "smi", env=gone)
    assert res.returncode == 3 and "couldn't communicate with the NVIDIA driver" in res.stdout
    assert "lsmod | grep nvidia" in res.stderr  # the driver's fix first (the demo for a machine without GPUs)

    baseline = tmp_path / "baseline.json"
    res = run_cli("health", "--probe", "smi", "--baseline", str(baseline), env=fakesmi_env(directory=HEALTHY))
    assert res.returncode == 0 and baseline.exists(), res.stdout + res.stderr
    res = run_cli("health", "--probe", "smi", "--json", "--baseline", str(baseline), env=gone)
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert [f["rule"] for f in report["findings"]] == ["TPD131"]
    message = report["findings"][0]["message"]
    assert "couldn't communicate with the NVIDIA driver" in message and "4 GPU(s)" in message
    assert "GPU 00000000:1B:00.0 (GPU-5d1c3e2a-8f41-4b7e-9c02-6a3f1e7b9d40)" in message
    assert [m["baseline_index"] for m in report["missing"]] == [0, 1, 2, 3]
    assert report["baseline"]["state"] == "kept" and baseline.read_text().count('"index"') == 4
