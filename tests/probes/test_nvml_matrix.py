"""Must show: for every fake machine that mirrors an nvidia-smi capture in fixtures/, the NVML-built
matrix equals the nvidia-smi-built one, pair by pair (and the GPUs' CPU/NUMA affinity agree)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fakenvml import FIXTURES, fixture_names, load
from tpdoctor.probes.nvml import probe_nvml
from tpdoctor.probes.replay import load as replay

ROOT = Path(__file__).resolve().parents[2]


def _mirrored() -> list[tuple[str, str]]:
    out = []
    for name in fixture_names():
        mirror = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()).get("mirrors")
        if mirror:
            out.append((name, mirror))
    return out


MIRRORED = _mirrored()


def test_most_machines_mirror_a_capture() -> None:
    assert len(MIRRORED) >= 7
    for _, mirror in MIRRORED:
        assert (ROOT / mirror).exists(), mirror


@pytest.mark.parametrize(("name", "mirror"), MIRRORED, ids=[n for n, _ in MIRRORED])
def test_nvml_matrix_equals_nvidia_smi_matrix(name: str, mirror: str) -> None:
    nvml = probe_nvml(load(name), host="fake")
    smi = replay(ROOT / mirror)
    assert [g.index for g in nvml.gpus] == [g.index for g in smi.gpus]
    full_capture = (ROOT / mirror).is_dir()  # a collect directory has nvlink and p2p outputs too
    for s in smi.gpu_links():
        n = nvml.gpu_link(*s.indices)
        assert n is not None
        assert (n.path, n.nvlinks) == (s.path, s.nvlinks), f"{s.a}-{s.b}"
        if full_capture:
            got, want = (n.health, n.nvlinks_expected, n.p2p), (s.health, s.nvlinks_expected, s.p2p)
            assert got == want, f"{s.a}-{s.b}"
            assert {k: n.p2p_detail[k] for k in s.p2p_detail} == s.p2p_detail
    for gs in smi.gpus:
        gn = nvml.gpu(gs.index)
        for attr in ("cpu_affinity", "numa_node", "uuid", "pci_bus_id", "memory_mib", "name"):
            theirs = getattr(gs, attr)
            if not hasattr(theirs, "reason") and theirs != "unknown GPU":  # known in the capture: must agree
                assert getattr(gn, attr) == theirs, f"GPU{gs.index} {attr}"
        if full_capture:
            assert [(p.link, p.state) for p in gn.nvlinks] == [(p.link, p.state) for p in gs.nvlinks]
