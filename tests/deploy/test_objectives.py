"""Objectives: a manifest states latency or throughput; every recommendation is judged on it and none is
predicted worse than what runs now; severities follow the predicted cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.topologies import nvswitch_node, scenario
from tpdoctor.advice import objective
from tpdoctor.deploy.check import check
from tpdoctor.manifests.loader import read_text
from tpdoctor.model.errors import ManifestError
from tpdoctor.probes.replay import example_path, load
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = (ROOT / "fixtures" / "deployments" / "canonical-job.yaml").read_text(encoding="utf-8")


def run(text: str, topology=None):  # type: ignore[no-untyped-def]
    return check(read_text(text, "job.yaml"), topology or load(example_path()), load_catalogue())


def active(result, rule: str) -> list:  # type: ignore[no-untyped-def]
    return [f for f in result.report.findings if f.rule == rule and f.evidence.get("judged") is not False]


def test_objective_of_a_manifest() -> None:
    assert objective.of(8, None, 16) == objective.Objective("latency", True, latency_ms=8, concurrency=16,
                                                           concurrency_stated=True)
    thr = objective.of(None, 2000, None)
    assert (thr.kind, thr.stated, thr.concurrency) == ("throughput", True, objective.DEFAULT_CONCURRENCY)
    none = objective.of(None, None, 4)
    assert (none.kind, none.stated, none.concurrency) == ("throughput", False, 4)
    assert "no objective stated" in none.describe()
    assert objective.per_group_batch(8, 3) == 3 and objective.per_group_batch(1, 4) == 1


def test_job_yaml_and_k8s_state_a_throughput_objective() -> None:
    (d,) = read_text("deployments:\n  - {name: a, model: llama-3.1-8b, tp: 2, throughput_objective_tps: 1500}\n",
                     "j.yaml")
    assert d.throughput_objective_tps == 1500
    with pytest.raises(ManifestError, match="throughput_objective_tps must be a number"):
        read_text("deployments:\n  - {name: a, model: m, throughput_objective_tps: lots}\n", "j.yaml")
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
           "    tpdoctor.io/throughput-objective-tps: '900'\nspec:\n  containers:\n  - name: c\n    image: vllm\n"
           "    command: [vllm, serve, meta-llama/Llama-3.1-8B, --tensor-parallel-size, '2']\n")
    (k,) = read_text(pod, "pod.yaml")
    assert k.throughput_objective_tps == 900
    with pytest.raises(ManifestError, match="must be a number"):
        read_text(pod.replace("'900'", "fast"), "pod.yaml")


def test_canonical_case_stays_critical_with_move_and_replica_advice() -> None:
    r = run(CANONICAL)
    (f,) = active(r, "TPD200")
    facts = r.facts[0]
    assert f.severity.value == "critical" and facts["down_pairs"] and not facts["degraded_pairs"]
    assert facts["per_token_ms"] > 1.4 * facts["better_per_token_ms"]  # NCCL over NODE vs custom on NV12
    assert f.recommendation.index("move it to GPU2+GPU3 (NV12)") < f.recommendation.index("TP=1 × 2 replicas")
    # judged on throughput at the 8 streams the job allows: both options are predicted above what runs now, but
    # only the move holds across the interval; the replicas are said to be too close to call, with both numbers
    assert facts["better_tokens_per_s_loaded"] > facts["tp1_tokens_per_s_loaded"] > facts["tokens_per_s_loaded"]
    assert facts["move_call"] == "better" and facts["replicas_call"] == "close"
    assert "TP=1 × 2 replicas and what runs now are too close to call" in f.recommendation
    assert f"{facts['tp1_tokens_per_s_loaded']:.0f}" in f.recommendation
    assert facts["objective"] == "throughput" and facts["concurrency"] == 8


def test_a_degraded_bond_is_critical_only_across_the_interval() -> None:
    """TPD200 for a degraded bond needs the slowdown at the interval's favourable end to reach the 5% line."""
    job = ("deployments:\n  - {name: l8, model: llama-3.1-8b, tp: 8, gpus: [0,1,2,3,4,5,6,7],"
           " max_model_len: 2048}\n")
    r = run(job, nvswitch_node(8, lost_ports={2: 17}))
    facts = r.facts[0]
    assert facts["nvlink_slowdown_low_pct"] < facts["nvlink_slowdown_pct"]
    assert bool(active(r, "TPD200")) == (facts["nvlink_slowdown_low_pct"] >= 5)


def test_a_degraded_bond_on_nvswitch_is_a_warning_not_a_critical() -> None:
    """One GPU of an 8×H100 board at NV14 of 18: the TP=8 group is predicted within 5% of healthy."""
    job = "deployments:\n  - {name: l70, model: llama-3.1-70b, dtype: fp8, tp: 8, gpus: [0,1,2,3,4,5,6,7]}\n"
    r = run(job, scenario("hgx-h100-gpu2-lost-4-ports"))
    facts = r.facts[0]
    assert not active(r, "TPD200") and [f.severity.value for f in active(r, "TPD220")] == ["warning"]
    assert facts["nvlink_slowdown_pct"] < 5 and len(facts["degraded_pairs"]) == 7 and facts["down_pairs"] == []
    assert r.report.status.value == "warning"


def test_a_bond_down_to_one_link_that_costs_more_than_5_percent_is_critical() -> None:
    """Severity follows the numbers: at 256 streams a TP=8 group whose GPU2 kept 1 NVLink of 18 moves 4 MiB
    all-reduces through 20 GB/s and is predicted well over 5% slower: TPD200 critical, not TPD220."""
    job = ("deployments:\n  - {name: l8, model: llama-3.1-8b, tp: 8, gpus: [0,1,2,3,4,5,6,7], max_num_seqs: 256,"
           " max_model_len: 2048}\n")
    r = run(job, nvswitch_node(8, lost_ports={2: 17}))
    facts = r.facts[0]
    assert facts["nvlink_slowdown_pct"] >= 5
    assert [f.severity.value for f in active(r, "TPD200")] == ["critical"] and not active(r, "TPD220")


def test_no_advice_is_predicted_worse_than_now_on_the_objective() -> None:
    """A healthy NV12 pair at 8 streams: TP=2 beats two TP=1 replicas on throughput, so TPD202 stays quiet;
    with a latency objective the replicas miss it and TPD202 stays quiet too."""
    healthy = CANONICAL.replace("gpus: [0, 1]", "gpus: [2, 3]")
    r = run(healthy)
    facts = r.facts[0]
    assert facts["replicas_advisable"] is False and not active(r, "TPD202")
    assert facts["tokens_per_s_loaded"] > facts["tp1_tokens_per_s_loaded"]
    r2 = run(healthy.replace("max_num_seqs: 8", "max_num_seqs: 8\n    latency_objective_ms: 9"))
    assert r2.facts[0]["objective"] == "latency" and not active(r2, "TPD202")


def test_cross_node_choice_follows_the_objective() -> None:
    topo = load(ROOT / "fixtures" / "topologies" / "h100-sxm-8.json")
    fp8 = "deployments:\n  - {name: l405, model: llama-3.1-405b, dtype: fp8, tp: 16, nodes: 2, gpu_count: 8}\n"
    r = run(fp8, topo)
    assert r.facts[0]["cross_node_choice"] == "replicas" and active(r, "TPD203")
    assert r.facts[0]["node_replica_per_token_ms"] < r.facts[0]["net_per_token_ms"]
    bf16 = fp8.replace("fp8", "bf16").replace("gpu_count: 8}", "gpu_count: 8, latency_objective_ms: 60}")
    r = run(bf16, topo)
    facts = r.facts[0]
    assert facts["node_replicas_fit"] is False and facts["cross_node_choice"] == "keep"
    assert facts["net_per_token_ms"] < facts["pp_per_token_ms"]  # PP cannot make one stream faster
    assert not active(r, "TPD203") and [f.severity.value for f in active(r, "TPD221")] == ["warning"]
