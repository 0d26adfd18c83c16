"""check-deployment end to end through the CLI: the canonical case, the issue's scenarios, every manifest kind
through --fix and back, JSON and SARIF output, bad input, and no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "deployments"
TOPO = ROOT / "fixtures" / "topologies"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"


def run_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-m", "tpdoctor", "check-deployment", *args, "--json"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def rules_of(data: dict, severity: str | None = None) -> set[str]:  # type: ignore[type-arg]
    return {f["rule"] for f in data["findings"] if not f.get("suppressed")
            and f["evidence"].get("judged") is not False and (severity is None or f["severity"] == severity)}


def test_canonical_case_is_critical_with_numbers() -> None:
    code, data = run_json(str(FIX / "canonical-job.yaml"), "--topology", str(EXAMPLE))
    assert code == 2 and data["status"] == "critical"
    by_rule = {f["rule"]: f for f in data["findings"]}
    assert by_rule["TPD200"]["severity"] == "critical"
    tpd200 = by_rule["TPD200"]
    assert "GPU0-GPU1 (NVLink 0/12 up, traffic over NODE)" in tpd200["message"]
    assert "move it to GPU2+GPU3 (NV12)" in tpd200["recommendation"]
    # replicas serve ~18% more tokens/s than the broken pair, inside the band of two predictions' error: said so
    # with both numbers, not recommended (TPD202 stays silent; docs/costmodel.md)
    assert "TP=1 × 2 replicas and what runs now are too close to call" in tpd200["recommendation"]
    assert "TPD202" not in rules_of(data)
    dep = data["deployments"][0]
    assert dep["replicas_call"] == "close" and dep["move_call"] == "better" and dep["replicas_advisable"] is False
    # NVIDIA's "94 GB" H100 NVL is 95830 MiB = 93.6 GiB: sizes are binary GiB, like the SKU name
    # predicted per-token all-reduce cost: PCIe (NODE) now vs healthy NVLink
    assert dep["allreduce_ms_per_token"] > 3 * dep["nvlink_allreduce_ms_per_token"]
    assert dep["better_group"] == "GPU2+GPU3" and dep["better_group_path"] == "NV12"
    assert dep["fits_one_gpu"] is True and dep["weights_gib"] == pytest.approx(26.6, abs=0.1)
    assert dep["gpu_memory_gib"] == pytest.approx(95830 / 1024, abs=0.05)
    assert not any(k.endswith("_gb") for k in dep)


def test_canonical_on_healthy_pair_with_objective_is_not_critical() -> None:
    code, data = run_json(str(FIX / "canonical-healthy-job.yaml"), "--topology", str(EXAMPLE))
    assert code == 0 and not rules_of(data, "critical") and not rules_of(data, "warning")
    assert "TPD202" not in rules_of(data)  # TP=1 would miss the 6 ms/token objective


def test_70b_on_a100_nvswitch_is_clean() -> None:
    code, data = run_json(str(FIX / "llama70b-deployment.yaml"), "--topology", str(TOPO / "a100-nvswitch-8.json"))
    assert code == 0 and rules_of(data) == set()


def test_70b_on_4090_across_sockets() -> None:
    code, data = run_json(str(FIX / "llama70b-4090-job.yaml"), "--topology",
                          str(TOPO / "rtx4090-pcie-2socket-8.json"))
    assert {"TPD201", "TPD206"} <= rules_of(data)
    assert "TPD205" in rules_of(data)  # 131 GiB of bf16 weights on 4 × 24 GiB: also true, and reported
    assert code == 2


def test_tp3_for_64_heads() -> None:
    code, data = run_json(str(FIX / "sglang-statefulset.yaml"), "--topology", str(TOPO / "a100-nvswitch-8.json"))
    assert "TPD204" in rules_of(data, "critical") and code == 2
    assert "one of 1, 2, 4, 8" in next(f for f in data["findings"] if f["rule"] == "TPD204")["recommendation"]


def test_405b_bf16_on_one_h100_node() -> None:
    code, data = run_json(str(FIX / "llama405b-job.yaml"), "--topology", str(TOPO / "h100-sxm-8.json"))
    assert "TPD205" in rules_of(data, "critical") and code == 2


def test_leaderworkerset_tp_across_nodes(tmp_path: Path) -> None:
    """At the default 32 streams TP=16 across nodes and TP=8 × PP=2 are within the band of two predictions'
    error: TPD221 keeps it and says so; at 256 streams PP is better across the interval: TPD203 advises it."""
    code, data = run_json(str(FIX / "lws-multinode.yaml"), "--topology", str(TOPO / "h100-sxm-8.json"))
    (kept,) = [f for f in data["findings"] if f["rule"] == "TPD221"]
    assert "TPD203" not in rules_of(data) and "too close to call" in kept["recommendation"]
    code, data = run_json(str(_lws256(tmp_path)), "--topology", str(TOPO / "h100-sxm-8.json"))
    assert "TPD203" in rules_of(data)


def _lws256(tmp_path: Path) -> Path:
    text = (FIX / "lws-multinode.yaml").read_text()
    out = tmp_path / "lws-256.yaml"
    out.write_text(text.replace("--max-model-len 8192\"", "--max-model-len 8192 --max-num-seqs 256\""))
    assert out.read_text() != text
    return out


KINDS = ["canonical-job.yaml", "vllm.sh", "compose.yaml", "sglang.sh", "tgi.sh", "trtllm.sh"]


@pytest.mark.parametrize("name", KINDS)
def test_fix_rewrites_minimally_and_rechecks_clean(name: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    code = main(["check-deployment", str(FIX / name), "--topology", str(EXAMPLE), "--fix", str(out), "--json"])
    assert code == 2
    err = capsys.readouterr().err
    assert "GPU0+GPU1 -> GPU2+GPU3" in err and "re-check of the fixed manifest(s): ok" in err
    before = (FIX / name).read_text().splitlines()
    after = out.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(changed) == 1, changed  # one line: the GPU list
    assert main(["check-deployment", str(out), "--topology", str(EXAMPLE), "--json"]) == 0


def test_fix_tp_across_nodes_in_a_shell_string(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lws.yaml"
    main(["check-deployment", str(_lws256(tmp_path)), "--topology", str(TOPO / "h100-sxm-8.json"),
          "--fix", str(out), "--json"])
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2" in out.read_text()
    capsys.readouterr()
    code = main(["check-deployment", str(out), "--topology", str(TOPO / "h100-sxm-8.json"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert "TPD203" not in rules_of(data)
    # PP over two nodes: the other node's GPUs are not in --topology, so OK cannot be promised without --fleet
    open_q = [q for q in data["questions"] if not q["answered"]]
    assert code == 3 and [q["question"] for q in open_q] == ["links"] and "--fleet" in open_q[0]["answer_with"]


def test_fix_never_writes_host_indices_into_a_pod(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # the pod asks the device plugin for 2 GPUs; its CUDA_VISIBLE_DEVICES=0,1 are the container's two GPUs.
    # The fix is where the pod lands (a node affinity on tpdoctor's NFD labels) or the plugin's allocation,
    # never "2,3" (devices the container does not have)
    out = tmp_path / "pod.yaml"
    code = main(["check-deployment", str(FIX / "canonical-pod.yaml"), "--topology", str(EXAMPLE), "--fix", str(out)])
    assert code == 1  # TPD211: 5 of the 6 pairs the device plugin may hand out are weaker than NV12
    err = capsys.readouterr().err
    assert out.read_text() == (FIX / "canonical-pod.yaml").read_text()
    assert "CUDA_VISIBLE_DEVICES=2,3" not in err and "tpdoctor.io/nvlink.links-down" in err


def test_sarif_points_at_manifest_lines(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["check-deployment", str(FIX / "vllm.sh"), "--topology", str(EXAMPLE), "--format", "sarif"])
    assert code == 2
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {f"TPD2{i:02d}" for i in range(10)}
    res = next(r for r in run["results"] if r["ruleId"] == "TPD200")
    assert res["level"] == "error" and res["kind"] == "fail"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("vllm.sh") and loc["region"]["startLine"] == 3
    assert run["invocations"][0]["executionSuccessful"] is True and run["invocations"][0]["exitCode"] == 2


def test_text_output_and_explain(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["check-deployment", str(FIX / "canonical-job.yaml"), "--topology", str(EXAMPLE), "--explain"])
    out = capsys.readouterr().out
    assert code == 2
    for text in ("TPD200", "GPU2+GPU3", "CRITICAL", "KV per token per GPU: 2 × 64 layers",
                 "vLLM budget: gpu_memory_utilization 0.9",
                 "all-reduce: 128 per token"):
        assert text in out, text


def test_bench_file_switches_to_measured_bandwidth(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([{"group": [0, 1], "backend": "nccl", "bytes": 1 << 30, "time_us": 1e5,
                                  "algbw_gbps": 4.0, "busbw_gbps": 4.0}]))
    main(["check-deployment", str(FIX / "canonical-job.yaml"), "--topology", str(EXAMPLE), "--bench", str(bench),
          "--json"])
    dep = json.loads(capsys.readouterr().out)["deployments"][0]
    assert dep["bw_source"] == "measured"


def test_malformed_manifest_is_exit_3_with_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check-deployment", str(FIX / "malformed.yaml"), "--topology", str(EXAMPLE)]) == 3
    assert "malformed.yaml:5: malformed YAML" in capsys.readouterr().err


def test_fail_on_critical_ignores_warnings() -> None:
    args = ["check-deployment", str(FIX / "llama70b-4090-job.yaml"), "--topology",
            str(TOPO / "rtx4090-pcie-2socket-8.json"), "--json", "--ignore", "TPD205:known", "--fail-on", "critical"]
    assert main(args) == 0


def test_predict_command(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["predict", "qwen35-27b", "--gpu", "h100-nvl", "--tp", "2", "--dtype", "fp8", "--path", "NODE",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    tp2, rep = data["predictions"]
    assert tp2["path"] == "NODE" and rep["replicas"] == 2
    assert rep["tokens_per_s_total"] > tp2["tokens_per_s_total"]
    assert main(["predict", "llama-3.1-70b", "--topology", str(EXAMPLE), "--gpus", "0,1", "--tp", "2"]) == 0
    assert "TP=2 over NODE" in capsys.readouterr().out


def test_check_deployment_never_imports_torch() -> None:
    code = ("import sys; from tpdoctor.cli import main; "
            f"main(['check-deployment', {str(FIX / 'canonical-job.yaml')!r}, '--topology', {str(EXAMPLE)!r}, "
            f"'--format', 'sarif']); assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().endswith("ok"), proc.stderr


def test_bench_report_from_tpdoctor_bench_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tpdoctor.model.bench import BenchResult
    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report
    from tpdoctor.probes.replay import load

    report = Report(topology=load(EXAMPLE), bench=(
        BenchResult(group=(2, 3), backend="nccl", bytes=1 << 30, time_us=9000.0, algbw_gbps=119.0,
                    busbw_gbps=119.0),))
    path = tmp_path / "bench.json"
    path.write_text(render(report))
    main(["check-deployment", str(FIX / "canonical-healthy-job.yaml"), "--topology", str(EXAMPLE), "--bench",
          str(path), "--json"])
    dep = json.loads(capsys.readouterr().out)["deployments"][0]
    assert dep["bw_source"] == "measured" and dep["group_path"] == "NV12"


def test_fix_across_manifests_gives_the_healthy_pair_to_one_only(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "fixed"
    main(["check-deployment", str(FIX / "canonical-job.yaml"), str(FIX / "vllm.sh"), "--topology", str(EXAMPLE),
          "--fix", str(out), "--json"])
    err = capsys.readouterr().err
    assert "gpus: [2, 3]" in (out / "canonical-job.yaml").read_text()
    assert (out / "vllm.sh").read_text() == (FIX / "vllm.sh").read_text()  # GPU2+GPU3 are taken now
    assert "re-check of the fixed manifest(s): critical (TPD200)" in err


def test_fix_rechecks_with_the_users_rule_options(tmp_path: Path) -> None:
    """The re-check of --fix output honours --severity and --ignore, like the check itself. On a PCIe box the
    fix moves TP=2 to the pair under one switch; TP over PCIe (TPD201) remains, since TP=2 there still serves
    more tokens/s than two TP=1 replicas."""
    job = tmp_path / "job.yaml"
    job.write_text("deployments:\n  - {name: q8, model: qwen3-8b, tp: 2, gpus: [1, 2], max_model_len: 8192}\n")
    base = ["check-deployment", str(job), "--topology", str(ROOT / "fixtures" / "topologies" /
            "rtx4090-pcie-2socket-8.json"), "--fix", str(tmp_path / "fixed.yaml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stricter = subprocess.run([sys.executable, "-m", "tpdoctor", *base, "--severity", "TPD201=critical"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
    assert "GPUs GPU1+GPU2 -> GPU0+GPU1" in stricter.stderr and "replicas" not in stricter.stderr
    assert "fix: re-check of the fixed manifest(s): critical (TPD201)" in stricter.stderr
    ignored = subprocess.run([sys.executable, "-m", "tpdoctor", *base, "--ignore", "TPD201"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert "fix: re-check of the fixed manifest(s): ok" in ignored.stderr


def test_fix_rechecks_with_the_model_config_it_was_given(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # a model only --model-config describes, on the broken pair: the fix moves it, and the re-check judges the
    # fixed file with the same config.json (without it the re-check was UNKNOWN: "model not in the catalogue")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text((ROOT / "fixtures/models/llama-3.1-8b-config.json").read_text())
    job = tmp_path / "job.yaml"
    job.write_text("deployments:\n  - {name: mystery, engine: vllm, model: acme/secret-model-8b, tp: 2, "
                   "gpus: [0, 1], max_model_len: 8192}\n")
    out = tmp_path / "fixed.yaml"
    code = main(["check-deployment", str(job), "--topology", str(EXAMPLE), "--model-config", str(model_dir),
                 "--fix", str(out), "--json"])
    assert code == 2
    err = capsys.readouterr().err
    assert "GPU0+GPU1 -> GPU2+GPU3" in err and "re-check of the fixed manifest(s): ok" in err, err
