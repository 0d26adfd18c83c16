"""NVML index (nvidia-smi's numbering, PCI bus order) to CUDA ordinal: the mapping as pure functions, and
the pieces of the launch that carry it (no GPU, no torch)."""

from __future__ import annotations

import pytest

from tpdoctor.bench.devices import (
    bus_key,
    cuda_ordinals,
    map_devices,
    pci_order,
    ran_elsewhere,
    visible_indices,
    visible_slots,
)
from tpdoctor.bench.launch import BenchOptions, bench_env
from tpdoctor.bench.plan import plan_node
from tpdoctor.bench.runner import _worker_args
from tpdoctor.bench.session import choose_devices, cuda_devices, minimal_topology
from tpdoctor.model.errors import BenchError
from tpdoctor.model.topology import Gpu, Topology

BUS = ("00000000:18:00.0", "00000000:2A:00.0", "00000000:3B:00.0", "00000000:5D:00.0")
UUID = ("GPU-aaaa1111", "GPU-bbbb2222", "GPU-cccc3333", "GPU-bbbb9999")


def _gpus(n: int = 4, bus: tuple[str, ...] = BUS) -> tuple[Gpu, ...]:
    return tuple(Gpu(index=i, name="NVIDIA H100 80GB HBM3", uuid=UUID[i], pci_bus_id=bus[i]) for i in range(n))


def test_bus_ids_in_every_spelling() -> None:
    assert bus_key("00000000:18:00.0") == bus_key("0000:18:00.0") == bus_key("18:00.0") == (0, 0x18, 0)
    assert bus_key("0000:2a:00.0") == bus_key("00000000:2A:00.0")
    assert bus_key("0001:18:00.0") != bus_key("0000:18:00.0")
    for bad in ("", "GPU-1234", "18-00.0", None, 7):
        assert bus_key(bad) is None


def test_without_cuda_visible_devices_ordinal_is_the_position_in_pci_bus_order() -> None:
    assert visible_slots(None, 4) == (0, 1, 2, 3)
    assert visible_slots(None, 4, _gpus()) == (0, 1, 2, 3)
    # an NVML numbering that is not in bus order (never seen; CUDA under PCI_BUS_ID follows the bus)
    odd = _gpus(bus=(BUS[2], BUS[0], BUS[3], BUS[1]))
    assert pci_order(odd) == (1, 3, 0, 2)
    assert map_devices([0, 1], {}, 4, odd) == (2, 0)
    with pytest.raises(BenchError, match="topology lists 4 GPUs but CUDA sees 2"):
        visible_slots(None, 2, _gpus())


def test_numbers_in_cuda_visible_devices_are_nvidia_smi_indices_in_their_order() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "2,0"}
    assert visible_slots("2,0", 2) == (2, 0)
    assert map_devices([0, 2], env, 2) == (1, 0)
    assert map_devices([0, 2], env, 2, _gpus()) == (1, 0)
    assert visible_indices(env, 2) == (0, 2)
    with pytest.raises(BenchError, match=r"GPU1 is not visible to CUDA: CUDA_VISIBLE_DEVICES='2,0' does not list it"):
        map_devices([0, 1], env, 2)


def test_the_list_ends_at_an_entry_that_names_no_gpu_as_in_cuda() -> None:
    assert visible_slots("0,2,-1,1", 2, _gpus()) == (0, 2)
    assert visible_slots("0,7,1", 1) == (0,)  # no topology: CUDA's count says where it stopped
    assert visible_slots("0,7,1", 1, _gpus()) == (0,)
    assert visible_slots("", 0) == ()
    with pytest.raises(BenchError, match="CUDA sees 3 devices but tpdoctor reads 2"):
        visible_slots("0,2,-1,1", 3, _gpus())


def test_uuids_and_unique_prefixes_match_the_topology() -> None:
    gpus = _gpus()
    assert visible_slots("GPU-cccc3333,GPU-aaaa", 2, gpus) == (2, 0)
    assert map_devices([0, 2], {"CUDA_VISIBLE_DEVICES": "GPU-cccc3333,GPU-aaaa"}, 2, gpus) == (1, 0)
    assert visible_slots("gpu-aaaa1111", 1, gpus) == (0,)
    assert visible_slots("GPU-aaaa,GPU-bbbb,2", 1, gpus) == (0,)  # GPU-bbbb is ambiguous: the list ends
    with pytest.raises(BenchError, match="names GPUs by UUID") as err:
        visible_slots("GPU-aaaa1111", 1)
    assert err.value.hint is not None and "--from" in err.value.hint


def test_a_mig_instance_takes_an_ordinal_but_is_never_a_whole_gpu() -> None:
    slots = visible_slots("MIG-5c89852c-d268-c3f3-1b07-005d5ae1dc3f,3", 2, _gpus())
    assert slots == (None, 3)
    assert cuda_ordinals([3], slots, "MIG-...,3") == (1,)
    with pytest.raises(BenchError, match="GPU0 is not visible.*MIG instance is not a whole GPU"):
        cuda_ordinals([0], slots, "MIG-...,3")


def test_lists_tpdoctor_cannot_read_without_guessing_are_errors() -> None:
    with pytest.raises(BenchError, match="CUDA_DEVICE_ORDER=FASTEST_FIRST"):
        visible_slots("1,0", 2, _gpus(), order="FASTEST_FIRST")
    assert visible_slots("1,0", 2, _gpus(), order="PCI_BUS_ID") == (1, 0)
    assert visible_slots("GPU-bbbb2222", 1, _gpus(), order="FASTEST_FIRST") == (1,)  # UUIDs need no order
    with pytest.raises(BenchError, match="lists GPU1 twice"):
        visible_slots("1,GPU-bbbb2222", 2, _gpus())


def test_a_rank_on_another_bus_than_the_topology_says_is_named() -> None:
    gpus = _gpus()
    assert ran_elsewhere((0, 2), ("0000:18:00.0", "0000:3b:00.0"), gpus) == []
    assert ran_elsewhere((0, 2), (None, "garbage"), gpus) == []  # nothing reported: no evidence
    assert ran_elsewhere((0, 2), ("0000:18:00.0", "0000:2a:00.0"), gpus) == [
        "rank 1 ran on PCI 0000:2a:00.0, but GPU2 is PCI 00000000:3B:00.0 in the topology"]


def test_session_picks_visible_gpus_and_their_ordinals() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "3,1"}
    topo = Topology(host="h", source="fixture", captured_at="2026-01-01T00:00:00Z", gpus=_gpus())
    devices = choose_devices("nccl", None, (), topo, lambda: 2, env)
    assert devices == (1, 3)
    assert cuda_devices("nccl", devices, topo, lambda: 2, env) == (1, 0)
    assert choose_devices("nccl", None, ((0, 3),), topo, lambda: 2, env) == (0, 3)
    with pytest.raises(BenchError, match="GPU0 is not visible"):
        cuda_devices("nccl", (0, 3), topo, lambda: 2, env)
    assert cuda_devices("gloo", (0, 1), None, lambda: 0, env) is None
    with pytest.raises(BenchError, match="--world-size 3 but only 2 GPUs are visible"):
        choose_devices("nccl", 3, (), topo, lambda: 2, env)


def test_every_rank_numbers_cuda_devices_in_pci_bus_order_and_gets_its_ordinal() -> None:
    assert bench_env({}, base={"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    options = BenchOptions(backend="nccl", sizes=(1024,))
    args = _worker_args(plan_node(2), (1, 3), (1, 0), options)
    assert args[args.index("--devices") + 1] == "1,3" and args[args.index("--cuda-devices") + 1] == "1,0"
    assert "--cuda-devices" not in _worker_args(plan_node(2), (0, 1), None, options)
    topo = minimal_topology((0, 1), "gloo", pci_bus_ids=("0000:18:00.0", None))
    assert [g.pci_bus_id for g in topo.gpus][0] == "0000:18:00.0"
