"""Verdicts a CI can gate on (issue 22): OK only when every critical question was answered, UNKNOWN (exit 3)
naming what would answer it, `--accept-unknown` reported as accepted; the scheduler's choices counted;
placement semantics in the verdict; each input judged on its own, stdin, `--output`, SARIF `kind: open`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.manifests.test_runtimes import POD
from tests.topologies import h100_nvl_4gpu, nvswitch_node
from tpdoctor.advice import scheduler
from tpdoctor.cli import main
from tpdoctor.deploy.check import CheckResult, check
from tpdoctor.manifests import loader
from tpdoctor.model.topology import Topology
from tpdoctor.probes import replay
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "deployments"
H100 = ROOT / "fixtures" / "topologies" / "h100-sxm-8.json"
EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
RULES = load_catalogue()


def run(text: str, name: str, topo: Topology | None = None, **kw: object) -> CheckResult:
    return check(loader.read_text(text, name), topo or replay.load(H100), RULES, **kw)  # type: ignore[arg-type]


def active(result: CheckResult, severity: str | None = None) -> set[str]:
    return {f.rule for f in result.report.findings if f.active and f.severity.value != "info"
            and (severity is None or f.severity.value == severity)}


def open_questions(result: CheckResult) -> dict[str, str]:
    return {q.name: q.answer_with or "" for q in result.questions if q.open}


def pod(name: str = "a", env: str = "") -> str:
    return POD.format(name=name, env=env)


def test_pinned_gpus_the_node_lacks_are_critical_not_ok(capsys: pytest.CaptureFixture[str]) -> None:
    # main: "GPU4 is not on gpu01", three "could not judge", then OK, exit 0
    code = main(["check-deployment", str(FIX / "llama70b-4090-job.yaml"), "--topology", str(EXAMPLE)])
    out = " ".join(capsys.readouterr().out.split())  # the view wraps to the terminal's width
    assert code == 2 and "TPD216" in out and "no GPU 4, 5" in out


def test_a_model_nobody_knows_is_unknown_with_what_answers_it() -> None:
    r = run("CUDA_VISIBLE_DEVICES=0,1 vllm serve acme/secret-model --tensor-parallel-size 2\n", "run.sh")
    assert r.report.status.value == "unknown" and r.report.status.exit_code == 3
    assert set(open_questions(r)) == {"starts", "tp_valid"} and "--model-config" in open_questions(r)["starts"]


def test_accepted_questions_are_reported_as_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_text("CUDA_VISIBLE_DEVICES=0,1 vllm serve acme/secret-model --tensor-parallel-size 2\n")
    args = ["check-deployment", str(f), "--topology", str(H100), "--json"]
    assert main([*args, "--accept-unknown", "starts:weights reviewed by hand"]) == 3  # tp_valid still open
    capsys.readouterr()
    assert main([*args, "--accept-unknown", "starts:weights reviewed by hand", "--accept-unknown", "tp_valid"]) == 0
    data = json.loads(capsys.readouterr().out)
    accepted = {q["question"]: q["accepted"] for q in data["questions"] if q["accepted"]}
    assert accepted["starts"] == "weights reviewed by hand" and "without a reason" in accepted["tp_valid"]
    assert main([*args, "--accept-unknown", "bogus"]) != 0


def test_ok_on_a_uniform_node_whatever_gpus_it_gets() -> None:
    # docker --gpus from a variable: GPUs unknown, but every pair of an NVSwitch node is as good
    text = "docker run --gpus \"$GPUS\" vllm/vllm-openai:v0.11.0 --model /models/qwen35-27b-fp8 -tp 2\n"
    assert "links" not in open_questions(run(text, "run.sh"))
    nvl = run(text, "run.sh", h100_nvl_4gpu())  # pairs differ (NV12 vs SYS): not answered, pinning answers it
    assert "links" in open_questions(nvl) and "pin" in open_questions(nvl)["links"]


def test_scheduler_sets_counted_on_the_node() -> None:
    topo = nvswitch_node(4, lost_ports={0: 18})  # GPU0's NVLinks all down
    s = scheduler.sets(topo, 2)
    assert s is not None and (s.total, s.bad, s.down) == (6, 3, 3)
    assert s.describe("the device plugin").startswith("3 of the 6 GPU pairs the device plugin may hand out cross "
                                                     "a down NVLink")
    best = scheduler.sets(topo, 2, allocation="best-effort")
    assert best is not None and best.down == 0 and "topology-aware" in best.describe("it")
    r = run(pod(), "pod.yaml", topo)
    assert "TPD211" in active(r) and "3 of the 6 GPU pairs" in next(
        f.message for f in r.report.findings if f.rule == "TPD211")
    rec = next(f.recommendation for f in r.report.findings if f.rule == "TPD211")
    assert "nodeAffinity" in rec and "CUDA_VISIBLE_DEVICES" not in rec


def test_too_many_groups_to_count_leaves_links_open_not_ok() -> None:
    # 72 GPUs, TP=4: over a million groups and 139 weaker pairs (GPU0's and GPU1's NVLinks down), beyond counting
    topo = nvswitch_node(72, name="NVIDIA GB200", host="nvl72-node", lost_ports={0: 18, 1: 18})
    s = scheduler.sets(topo, 4)
    assert s is not None and (s.total, s.bad, s.all_down) == (None, None, None) and s.risky
    r = run(pod().replace('"2"]', '"4"]').replace("nvidia.com/gpu: 2", "nvidia.com/gpu: 4"), "pod.yaml", topo)
    assert r.report.status.value == "unknown" and "nodeAffinity" in open_questions(r)["links"]
    f = r.facts[0]
    assert f["unpinned_risk"] is True and "TPD211" in active(r)  # any group holding a weaker pair is weaker
    assert f["scheduler_all_down"] is None and "more groups of 4 GPUs" in f["unknown"]["scheduler_all_down"]


def test_two_pods_requesting_gpus_never_share_them() -> None:
    r = run(pod("a") + "---\n" + pod("b"), "pods.yaml")
    assert "TPD207" not in active(r) and r.report.status.value == "ok"


def test_compose_services_of_other_profiles_never_overlap() -> None:
    svc = ("  {n}:\n    image: vllm/vllm-openai:v0.11.0\n    profiles: [{n}]\n    command: --model "
           "/models/qwen35-27b-fp8 --tensor-parallel-size 2\n    deploy: {{resources: {{reservations: {{devices: "
           "[{{driver: nvidia, device_ids: ['0', '1'], capabilities: [gpu]}}]}}}}}}\n")
    r = run("services:\n" + svc.format(n="small") + svc.format(n="big"), "compose.yaml")
    assert "TPD207" not in active(r)
    same = run("services:\n" + svc.format(n="small") + svc.format(n="big").replace("[big]", "[small]"),
               "compose.yaml")
    assert "TPD207" in active(same, "critical")


def test_sequential_launches_do_not_overlap_background_ones_do() -> None:
    line = "CUDA_VISIBLE_DEVICES=0,1 vllm serve /models/qwen35-27b-fp8 --tensor-parallel-size 2"
    assert "TPD207" not in active(run(f"{line}\n{line} --max-model-len 4096\n", "run.sh"))
    assert "TPD207" in active(run(f"{line} &\n{line} --max-model-len 4096\n", "run.sh"))


def test_ray_cluster_in_the_file_is_counted() -> None:
    head = "ray start --head --num-gpus 1\nray start --address head:6379 --num-gpus 1\n"
    pp2 = run(head + "vllm serve Qwen/Qwen3-8B -pp 2 --distributed-executor-backend ray\n", "run.sh")
    assert not active(pp2, "critical") and pp2.report.status.value == "ok"  # one stage per one-GPU node
    both = run(head + "vllm serve Qwen/Qwen3-8B -tp 2 -pp 2 --distributed-executor-backend ray\n", "run.sh")
    assert "TPD210" in active(both, "critical")  # 4 GPUs asked of a 2-GPU cluster


def test_nccl_p2p_disable_judged_on_whatever_group_the_scheduler_gives() -> None:
    r = run(pod(env='{name: NCCL_P2P_DISABLE, value: "1"}'), "pod.yaml")
    assert "TPD208" in active(r)


def test_no_rule_error_when_replicas_cannot_be_predicted() -> None:
    # TPD202 once failed with "No matching overloads found : _&&_" (a null yes/no reached CEL)
    r = run((ROOT / "fixtures/deployments/real/lws-sglang-multinode.yaml").read_text(), "lws.yaml")
    assert not [f for f in r.report.findings if "rule error" in f.message]


def test_each_input_judged_on_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svc = tmp_path / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("services: [unclosed\n")
    sarif_out = tmp_path / "out.sarif"
    code = main(["check-deployment", str(svc), str(FIX / "vllm.sh"), "--topology", str(H100), "--format", "sarif",
                 "--output", str(sarif_out)])
    assert code == 0 and "note: " in capsys.readouterr().out  # the text report on stdout, the Service a note
    run_ = json.loads(sarif_out.read_text())["runs"][0]
    inv = run_["invocations"][0]
    assert inv["executionSuccessful"] is True and inv["toolExecutionNotifications"][0]["level"] == "note"
    code = main(["check-deployment", str(broken), str(FIX / "vllm.sh"), "--topology", str(H100), "--format",
                 "sarif"])
    data = json.loads(capsys.readouterr().out)
    assert code == 3 and data["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_no_deployment_at_all_still_writes_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svc = tmp_path / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    out = tmp_path / "o.sarif"
    code = main(["check-deployment", str(svc), "--topology", str(H100), "--format", "sarif", "--output", str(out)])
    assert code == 3 and "no deployment to check" in capsys.readouterr().err
    assert json.loads(out.read_text())["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_stdin_and_open_results_in_sarif(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = "CUDA_VISIBLE_DEVICES=0,1 vllm serve acme/secret-model --tensor-parallel-size 2\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code = main(["check-deployment", "-", "--topology", str(H100), "--format", "sarif"])
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert code == 3
    opened = [r for r in results if r["kind"] == "open"]
    assert opened and all(r["level"] == "none" for r in opened)
    assert {r["ruleId"] for r in opened} >= {"tpdoctor/question/starts", "tpdoctor/question/tp_valid"}
    assert opened[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "<stdin>"


def test_fix_refuses_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-deployment", "-", "--topology", str(H100), "--fix", str(tmp_path / "x")]) != 0


def test_allow_no_deployment_for_hooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svc = tmp_path / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    assert main(["check-deployment", str(svc), "--topology", str(H100), "--allow-no-deployment"]) == 0
    assert "note:" in capsys.readouterr().err


def test_ci_examples_use_options_that_exist() -> None:
    import shlex

    import yaml

    from tpdoctor.commands.check_deployment import command

    known = {o for p in command.params for o in getattr(p, "opts", [])}
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    flow = yaml.safe_load((ROOT / "deploy/ci/github-actions-check-deployment.yml").read_text())
    step = next(s for s in flow["jobs"]["check-deployment"]["steps"] if "check-deployment" in s.get("run", ""))
    words = shlex.split(hook["entry"]) + shlex.split(step["run"].split("|", 1)[1].replace("\\\n", " "))
    assert {w for w in words if w.startswith("--")} <= known


def test_prebuilt_engine_tp_comes_from_its_config_when_given(tmp_path: Path) -> None:
    text = "trtllm-serve engines/llama-8b --tokenizer meta-llama/Llama-3.1-8B-Instruct\n"
    unknown = run(text, "run.sh")
    assert "tp_valid" in open_questions(unknown) and "config.json" in open_questions(unknown)["tp_valid"]
    (tmp_path / "engines" / "llama-8b").mkdir(parents=True)
    (tmp_path / "engines" / "llama-8b" / "config.json").write_text(
        json.dumps({"pretrained_config": {"mapping": {"world_size": 2, "tp_size": 2, "pp_size": 1}}}))
    known = run(text, "run.sh", base_dir=tmp_path)
    assert known.assessments[0].deployment.tp == 2 and "tp" not in known.assessments[0].deployment.unknown


@pytest.mark.parametrize("config", [{"pretrained_config": [1]}, {"pretrained_config": {"mapping": "tp2"}},
                                    {"builder_config": 8}, [1, 2]])
def test_prebuilt_engine_config_of_another_shape_leaves_tp_unknown(tmp_path: Path, config: object) -> None:
    text = "trtllm-serve engines/llama-8b --tokenizer meta-llama/Llama-3.1-8B-Instruct\n"
    (tmp_path / "engines" / "llama-8b").mkdir(parents=True)
    (tmp_path / "engines" / "llama-8b" / "config.json").write_text(json.dumps(config))
    r = run(text, "run.sh", base_dir=tmp_path)  # raised AttributeError ('list' object has no attribute 'get')
    assert "tp" in r.assessments[0].deployment.unknown and "tp_valid" in open_questions(r)


def test_fix_never_writes_a_gpu_list_over_a_compose_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # count: 2 is host GPUs 0 and 1 (moby): on the example node their NVLink is down; the fix names the GPUs
    src = tmp_path / "compose.yaml"
    src.write_text("services:\n  vllm:\n    image: vllm/vllm-openai:v0.11.0\n    command: --model "
                   "/models/qwen35-27b-fp8 --tensor-parallel-size 2\n    deploy: {resources: {reservations: {devices: "
                   "[{driver: nvidia, count: 2, capabilities: [gpu]}]}}}\n")
    out = tmp_path / "fixed.yaml"
    assert main(["check-deployment", str(src), "--topology", str(EXAMPLE), "--fix", str(out)]) == 2  # TPD200
    assert out.read_text() == src.read_text() and "device_ids: ['2', '3'] instead of its count" in \
        capsys.readouterr().err
