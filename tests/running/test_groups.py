"""Grouping by each engine's process structure, judged in process on the canonical node (GPU0-GPU1 bridge
down, GPU2-GPU3 healthy): the shapes of data/running.yaml, one per test, as /proc shows them on a node."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from tests.test_deployment_rule_cases import topology
from tpdoctor.model.running import ComputeProcess, Process, Running
from tpdoctor.report.catalogue import load_catalogue
from tpdoctor.running.judge import Judged, judge

PY = "/usr/bin/python3"
SPAWN = [PY, "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=9)",
         "--multiprocessing-fork"]


@cache
def rules():  # type: ignore[no-untyped-def]
    return load_catalogue()


Proc = tuple[int, int, list[str]] | tuple[int, int, list[str], dict[str, str]]


def run(table: dict[int, list[int]], procs: list[Proc], node: str = "example") -> Judged:
    """`table`: pid -> GPUs it holds; `procs`: (pid, ppid, cmdline[, env])."""
    rows = tuple(ComputeProcess(pid, g) for pid, gs in table.items() for g in gs)
    ps = tuple(Process(p[0], p[1], "x", tuple(p[2]), env=dict(p[3]) if len(p) > 3 else {}) for p in procs)  # type: ignore[misc]
    return judge(replace(topology(node), running=Running("nvml", table=rows, processes=ps)), rules())


def groups(j: Judged) -> list[tuple[Any, ...]]:
    assert j.topology.running is not None
    return [(g.name, g.engine, g.tp, g.gpus, g.status) for g in j.topology.running.groups]


def test_vllm_v1_workers_under_their_engine_core() -> None:
    j = run({12: [2], 13: [3]}, [(10, 1, [PY, "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-32B", "-tp", "2"]),
                                 (11, 10, ["VLLM::EngineCore"]), (12, 11, ["VLLM::Worker_TP0"]),
                                 (13, 11, ["VLLM::Worker_TP1"])])
    assert groups(j) == [("vllm (pid 10)", "vllm", 2, (2, 3), "ok")]


def test_vllm_data_parallel_is_one_group_per_rank() -> None:
    j = run({12: [0], 13: [1], 22: [2], 23: [3]}, [
        (10, 1, ["vllm", "serve", "Qwen/Qwen3-32B", "--data-parallel-size", "2", "--tensor-parallel-size", "2"]),
        (11, 10, ["VLLM::EngineCore_DP0"]), (12, 11, ["VLLM::Worker_DP0_TP0"]), (13, 11, ["VLLM::Worker_DP0_TP1"]),
        (21, 10, ["VLLM::EngineCore_DP1"]), (22, 21, ["VLLM::Worker_DP1_TP0"]), (23, 21, ["VLLM::Worker_DP1_TP1"])])
    assert groups(j) == [("vllm DP0 (pid 10)", "vllm", 2, (0, 1), "critical"),
                         ("vllm DP1 (pid 10)", "vllm", 2, (2, 3), "ok")]


def test_sglang_dp_attention_is_one_tp_group() -> None:
    """SGLang --dp 2 --tp 2 --enable-dp-attention: attention data-parallel inside one TP=2 group, not two."""
    j = run({11: [2], 12: [3]}, [
        (10, 1, [PY, "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-30B-A3B", "--tp", "2", "--dp", "2",
                 "--enable-dp-attention"]),
        (11, 10, ["sglang::scheduler_DP0_TP0"]), (12, 10, ["sglang::scheduler_DP1_TP1"])])
    assert [g[:4] for g in groups(j)] == [("sglang (pid 10)", "sglang", 2, (2, 3))]


def test_vllm_tp1_engine_core_holds_its_gpu() -> None:
    j = run({11: [2]}, [(10, 1, ["vllm", "serve", "Qwen/Qwen3-32B"]), (11, 10, ["VLLM::EngineCore"])])
    assert groups(j) == [("vllm (pid 10)", "vllm", 1, (2,), "ok")]


def test_spawned_workers_of_an_older_vllm() -> None:
    """vLLM before process titles: workers are multiprocessing children with spawn's generic command line."""
    j = run({11: [0], 12: [1]}, [(10, 1, [PY, "-m", "vllm.entrypoints.openai.api_server", "--model", "Qwen/Qwen3-32B",
                                          "--tensor-parallel-size", "2"]), (11, 10, SPAWN), (12, 10, SPAWN)])
    assert groups(j) == [("vllm (pid 10)", "vllm", 2, (0, 1), "critical")]
    assert "TPD200" in j.topology.running.groups[0].rules  # type: ignore[union-attr]


def test_tgi_launcher_and_its_shards() -> None:
    shard = [PY, "/opt/conda/bin/text-generation-server", "serve", "Qwen/Qwen3-32B", "--uds-path", "/tmp/s",
             "--sharded"]
    j = run({11: [2], 12: [3]}, [(10, 1, ["text-generation-launcher", "--model-id", "Qwen/Qwen3-32B"]),
                                 (11, 10, shard, {"RANK": "0", "WORLD_SIZE": "2"}),
                                 (12, 10, shard, {"RANK": "1", "WORLD_SIZE": "2"})])
    assert groups(j) == [("tgi (pid 10)", "tgi", 2, (2, 3), "ok")]  # no --num-shard: the shards say 2


def test_mpirun_ranks_of_trtllm_are_one_group() -> None:
    launch = ["trtllm-llmapi-launch", "trtllm-serve", "Qwen/Qwen3-32B", "--tp_size", "2"]
    j = run({12: [0], 13: [1]}, [(10, 1, ["mpirun", "-n", "2", "--allow-run-as-root", *launch]),
                                 (11, 10, ["orted", "-mca", "ess", "env"]),
                                 (12, 11, launch, {"OMPI_COMM_WORLD_RANK": "0"}),
                                 (13, 11, launch, {"OMPI_COMM_WORLD_RANK": "1"})])
    assert groups(j) == [("trtllm (pid 10)", "trtllm", 2, (0, 1), "critical")]


def test_torchrun_sglang() -> None:
    j = run({11: [2], 12: [3]}, [
        (10, 1, [PY, "/usr/local/bin/torchrun", "--nproc-per-node", "2", "-m", "sglang.launch_server", "--model-path",
                 "Qwen/Qwen3-32B", "--tp-size", "2"]),
        (11, 10, [PY, "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-32B", "--tp-size", "2"]),
        (12, 10, [PY, "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-32B", "--tp-size", "2"])])
    assert groups(j) == [("sglang (pid 10)", "sglang", 2, (2, 3), "ok")]


def test_two_engines_on_one_gpu_overlap() -> None:
    j = run({11: [2], 21: [2, 3]}, [(10, 1, ["vllm", "serve", "Qwen/Qwen3-8B"]), (11, 10, ["VLLM::EngineCore"]),
                                    (20, 1, ["sglang", "serve", "Qwen/Qwen3-8B", "--tp", "2"]),
                                    (21, 20, ["sglang::scheduler_TP0"])])
    assert [g[0] for g in groups(j)] == ["vllm (pid 10)", "sglang (pid 20)"]
    assert {f.rule for f in j.findings if f.active} >= {"TPD207"}
    assert all(g[4] == "critical" for g in groups(j))


def test_nccl_p2p_disabled_in_the_engines_environment() -> None:
    j = run({11: [2], 12: [3]}, [(10, 1, ["vllm", "serve", "Qwen/Qwen3-32B", "-tp", "2"],
                                  {"NCCL_P2P_DISABLE": "1"}),
                                 (11, 10, ["VLLM::Worker_TP0"]), (12, 10, ["VLLM::Worker_TP1"])])
    assert groups(j)[0][4] == "warning" and "TPD208" in j.topology.running.groups[0].rules  # type: ignore[union-attr]


def test_a_process_whose_command_line_cannot_be_read_is_listed_with_its_gpus() -> None:
    rows = (ComputeProcess(10, 0), ComputeProcess(10, 1))
    hidden_cmd = Process(10, 1, "python3", (), unread={"cmdline": "permission denied"})
    j = judge(replace(topology("example"), running=Running("nvml", table=rows, processes=(hidden_cmd,))), rules())
    assert groups(j) == [("python3 (pid 10)", j.topology.running.groups[0].engine, j.topology.running.groups[0].tp,  # type: ignore[union-attr]
                          (0, 1), "warning")]
    assert {f.rule for f in j.findings} == {"TPD240", "TPD241"}
    assert "permission denied" in next(f.message for f in j.findings if f.rule == "TPD240")
