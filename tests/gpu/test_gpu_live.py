"""On a real GPU machine (scripts/gpu-check.sh): the live reads agree with each other, a capture replays
to what was read, the NCCL all-reduce runs on the GPUs present, and NVML indices map to CUDA ordinals by
PCI bus id. Deselected by default (markers `gpu`, `multi_gpu`); the gloo variant of the world-size-1 run
is not marked and runs everywhere, so the worker's single-rank path is exercised here too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.model.coverage import not_made

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 240, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpdoctor", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})


@pytest.mark.gpu
def test_live_nvml_scan_equals_nvidia_smi_scan_pair_by_pair(captures: Path) -> None:
    from tpdoctor.probes import probe_live

    nvml, smi = probe_live("nvml"), probe_live("smi")
    (captures / "probe-pairs.txt").write_text("".join(
        f"{lk.a}-{lk.b} nvml {lk.path} smi {s.path if (s := smi.link(lk.a, lk.b)) else '-'}\n"
        for lk in nvml.gpu_links()))
    assert [g.index for g in nvml.gpus] == [g.index for g in smi.gpus]
    for g in nvml.gpus:
        s = smi.gpu(g.index)
        assert (g.name, str(g.uuid), str(g.pci_bus_id).upper()) == (s.name, str(s.uuid), str(s.pci_bus_id).upper())
    for lk in nvml.gpu_links():
        other = smi.link(lk.a, lk.b)
        assert other is not None, f"{lk.a}-{lk.b}"
        assert (lk.path, lk.nvlinks) == (other.path, other.nvlinks), f"{lk.a}-{lk.b}"
    assert not [c.name for c in not_made(nvml) if c.name != "rules"], "NVML left checks unmade"


@pytest.mark.gpu
def test_collect_then_replay_round_trips(captures: Path) -> None:
    from tpdoctor.model.contract import loads
    from tpdoctor.probes.replay import load

    out = captures / "collect-roundtrip"
    res = cli("collect", str(out))
    assert res.returncode == 0, res.stderr
    snapshot = loads((out / "snapshot.json").read_text()).topology
    replayed = load(out)
    assert [g.index for g in replayed.gpus] == [g.index for g in snapshot.gpus]
    for lk in snapshot.gpu_links():
        other = replayed.link(lk.a, lk.b)
        assert other is not None and (other.path, other.nvlinks) == (lk.path, lk.nvlinks), f"{lk.a}-{lk.b}"
    scan = cli("scan", "--from", str(out), "--json")
    report = json.loads(scan.stdout)
    gaps = {c["name"] for c in report["coverage"] if c["state"] == "not_made"}
    assert gaps <= {"fabric"}, gaps  # nvidia-smi's outputs carry everything but the fabric state


def _single_rank(backend: str) -> dict[str, object]:
    from tpdoctor.bench.runner import free_port

    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "tpdoctor.bench.worker", "--backend", backend, "--sizes", "1M",
                          "--iters", "3", "--warmup", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    events = [json.loads(line.split(" ", 1)[1]) for line in res.stdout.splitlines() if line.startswith("TPDBENCH ")]
    (result,) = [e["result"] for e in events if e["event"] == "result"]
    return result  # type: ignore[no-any-return]


def test_world_size_1_all_reduce_on_gloo() -> None:
    result = _single_rank("gloo")
    assert result["group"] == [0] and result["correct"] is True and result["busbw_gbps"] == 0.0


@pytest.mark.gpu
def test_world_size_1_all_reduce_on_nccl() -> None:
    result = _single_rank("nccl")
    assert result["group"] == [0] and result["correct"] is True and float(result["algbw_gbps"]) > 0  # type: ignore[arg-type]


@pytest.mark.multi_gpu
def test_nccl_all_reduce_on_every_gpu_and_pair(need_gpus, captures: Path) -> None:  # type: ignore[no-untyped-def]
    n = need_gpus(2)
    for mode in ("--node", "--pairs"):
        res = cli("bench", "--backend", "nccl", mode, "--sizes", "1M,64M", "--iters", "5", "--warmup", "2",
                  "--timeout", "60", "--json")
        (captures / f"bench{mode.replace('--', '-')}.json").write_text(res.stdout)
        assert res.returncode == 0, res.stderr[-2000:]
        results = json.loads(res.stdout)["bench"]
        assert results and all(r["correct"] and r["error"] is None and r["busbw_gbps"] > 0 for r in results)
        groups = {tuple(r["group"]) for r in results}
        pairs = {(i, j) for i in range(n) for j in range(i + 1, n)}
        assert groups == ({tuple(range(n))} if mode == "--node" else pairs)


@pytest.mark.gpu
def test_nvml_index_is_the_cuda_ordinal_by_pci_bus_id() -> None:
    """With CUDA_DEVICE_ORDER=PCI_BUS_ID (what benchmark ranks get), CUDA ordinal i is NVML index i: the
    same board (NVML enumerates in PCI bus order; CUDA's default order is fastest-first). Compared by
    UUID, which both report."""
    import pynvml

    pynvml.nvmlInit()
    try:
        nvml = [str(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))).removeprefix("GPU-")
                for i in range(pynvml.nvmlDeviceGetCount())]
    finally:
        pynvml.nvmlShutdown()
    code = ("import json, torch\n"
            "print(json.dumps([str(torch.cuda.get_device_properties(i).uuid) "
            "for i in range(torch.cuda.device_count())]))")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    res = subprocess.run([sys.executable, "-c", code], env={**env, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"},
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    cuda = json.loads(res.stdout.strip().splitlines()[-1])
    assert [u.removeprefix("GPU-") for u in cuda] == nvml


def _cuda_uuids(env: dict[str, str]) -> list[str]:
    code = ("import json, torch\n"
            "print(json.dumps([str(torch.cuda.get_device_properties(i).uuid).removeprefix('GPU-') "
            "for i in range(torch.cuda.device_count())]))")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.multi_gpu
def test_the_benchmark_maps_nvml_indices_to_cuda_ordinals_under_cuda_visible_devices(need_gpus) -> None:  # type: ignore[no-untyped-def]
    """tpdoctor.bench.devices.map_devices (what benchmark ranks use) against CUDA itself, with the GPUs
    listed backwards in CUDA_VISIBLE_DEVICES: GPU i's CUDA ordinal is the device with GPU i's UUID."""
    from tpdoctor.bench.devices import map_devices
    from tpdoctor.probes import probe_live

    n = need_gpus(2)
    topo = probe_live("nvml")
    base = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    for visible in (None, ",".join(str(i) for i in reversed(range(n)))):
        env = {**base, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **({"CUDA_VISIBLE_DEVICES": visible} if visible else {})}
        cuda = _cuda_uuids(env)
        ordinals = map_devices(range(n), env, len(cuda), topo.gpus)
        for index, ordinal in zip(range(n), ordinals):
            assert cuda[ordinal] == str(topo.gpu(index).uuid).removeprefix("GPU-"), (visible, index, ordinal)
