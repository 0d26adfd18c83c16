"""The fake NVML is the installed pynvml on a fake libnvidia-ml: check it cannot drift from the real one,
and that the fake library behaves like the C library in the ways the reference (nvml-reference.md) names."""

from __future__ import annotations

import ctypes
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pynvml as real  # the installed nvidia-ml-py: the reference the fake must match
import pytest

from tests.fakenvml import FIXTURES, fixture_names, load
from tests.fakenvml.clib import FakeNvmlLib
from tests.fakenvml.machine import load_machine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> ModuleType:
    return load("h100nvl-4x-gpu01-nvlink-down")


def _public(module: object) -> dict[str, Any]:
    """Public names, without imported submodules (which depend on import order, not on pynvml)."""
    return {n: getattr(module, n) for n in dir(module)
            if not n.startswith("_") and n != "CDLL" and not inspect.ismodule(getattr(module, n))}


def test_public_names_constants_and_signatures_match_real_pynvml(fake: ModuleType) -> None:
    mine, theirs = _public(fake), _public(real)
    assert set(mine) == set(theirs)
    for name, value in theirs.items():
        other = mine[name]
        if isinstance(value, (int, str, float, tuple, bytes)):
            assert other == value, name
        elif inspect.isfunction(value):
            mine_sig, real_sig = inspect.signature(other), inspect.signature(value)
            assert list(mine_sig.parameters) == list(real_sig.parameters), name
            for p, q in zip(mine_sig.parameters.values(), real_sig.parameters.values()):
                assert (p.kind, type(p.default).__name__) == (q.kind, type(q.default).__name__), name
        elif inspect.isclass(value) and issubclass(value, (ctypes.Structure, ctypes.Union)):
            fields = [(f[0], getattr(f[1], "__name__", str(f[1]))) for f in getattr(value, "_fields_", [])]
            assert [(f[0], getattr(f[1], "__name__", str(f[1]))) for f in getattr(other, "_fields_", [])] \
                == fields, name
    assert fake.NVML_P2P_CAPS_INDEX_READ == (0,)  # pitfall P1 survives, as in the real module


def test_error_classes_codes_and_texts_match(fake: ModuleType) -> None:
    codes = {n: getattr(real, n) for n in dir(real) if n.startswith("NVML_ERROR_")}
    for code in codes.values():
        mine, theirs = fake.nvmlExceptionClass(code), real.nvmlExceptionClass(code)
        assert mine.__name__ == theirs.__name__
        assert issubclass(mine, fake.NVMLError)
        if code in real.NVMLError._errcode_to_string:
            assert str(fake.NVMLError(code)) == str(real.NVMLError(code))
    with pytest.raises(ValueError):
        fake.nvmlExceptionClass(12345)
    err = fake.NVMLError(3)
    assert type(err).__name__ == "NVMLError_NotSupported" and err.value == 3
    assert err.args == real.NVMLError(3).args and repr(err) == repr(real.NVMLError(3))
    with pytest.raises(TypeError):
        hash(err)  # __eq__ without __hash__: unhashable, as in pynvml


def test_every_c_symbol_the_probe_reaches_is_implemented() -> None:
    """Each pynvml function tpdoctor calls resolves to a C entry point of the fake library."""
    source = (ROOT / "tpdoctor" / "probes" / "nvml.py").read_text()
    used = set(re.findall(r'"(nvml[A-Za-z0-9_]+)"', source)) - {"nvmlInit", "nvmlShutdown"}
    used |= {"nvmlInitWithFlags", "nvmlShutdown"}
    for name in sorted(used):
        text = inspect.getsource(getattr(real, name))
        for callee in re.findall(r"return (nvml[A-Za-z0-9_]+)\(", text):  # thin wrappers: follow one hop
            text += inspect.getsource(getattr(real, callee))
        symbols = re.findall(r'_nvmlGetFunctionPointer\("([A-Za-z0-9_]+)"\)', text)
        if name == "nvmlInitWithFlags":
            symbols = ["nvmlInitWithFlags"]
        assert symbols, name
        for sym in symbols:
            if name == "nvmlDeviceGetMemoryInfo" and sym.endswith("_v2"):
                continue
            assert hasattr(FakeNvmlLib, "c_" + sym), f"{name} calls C {sym}, which the fake lacks"


def test_calls_before_init_raise_uninitialized(fake: ModuleType) -> None:
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    fake.nvmlShutdown()
    with pytest.raises(fake.NVMLError_Uninitialized):  # library loaded, C refcount at zero
        fake.nvmlDeviceGetCount()


def test_p2p_read_index_tuple_raises_ctypes_argument_error(fake: ModuleType) -> None:
    fake.nvmlInit()
    a, b = fake.nvmlDeviceGetHandleByIndex(2), fake.nvmlDeviceGetHandleByIndex(3)
    with pytest.raises(ctypes.ArgumentError, match="argument 3"):
        fake.nvmlDeviceGetP2PStatus(a, b, fake.NVML_P2P_CAPS_INDEX_READ)
    with pytest.raises(ctypes.ArgumentError):
        fake.nvmlDeviceGetNvLinkState(a, 1.0)
    assert fake.nvmlDeviceGetP2PStatus(a, b, 0) == fake.NVML_P2P_STATUS_OK
    assert fake.nvmlDeviceGetP2PStatus(a, b, fake.NVML_P2P_CAPS_INDEX_NVLINK) == fake.NVML_P2P_STATUS_OK


def test_handles_are_distinct_objects_and_identity(fake: ModuleType) -> None:
    fake.nvmlInit()
    h1, h2 = fake.nvmlDeviceGetHandleByIndex(0), fake.nvmlDeviceGetHandleByIndex(0)
    assert h1 is not h2 and isinstance(h1, fake.c_nvmlDevice_t)
    assert fake.nvmlDeviceGetUUID(h1) == fake.nvmlDeviceGetUUID(h2)
    by_bus = fake.nvmlDeviceGetHandleByPciBusId("00000000:29:00.0")
    assert fake.nvmlDeviceGetIndex(by_bus) == 1
    with pytest.raises(fake.NVMLError_NotFound):
        fake.nvmlDeviceGetHandleByUUID("GPU-nope")
    with pytest.raises(fake.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(4)


def test_odd_return_types(fake: ModuleType) -> None:
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    is_mig = fake.nvmlDeviceIsMigDeviceHandle(h)
    assert isinstance(is_mig, ctypes.c_uint) and not bool(is_mig.value)
    assert fake.nvmlDeviceGetMigMode(h) == [0, 0]
    info = fake.c_nvmlGpuFabricInfo_v3_t()
    assert info.version == 0x3000028
    assert fake.nvmlDeviceGetGpuFabricInfoV(h, ctypes.byref(info)) == 0
    assert info.state == fake.NVML_GPU_FABRIC_STATE_NOT_SUPPORTED
    pci = fake.nvmlDeviceGetPciInfo(h)
    assert pci.busId == "00000000:1B:00.0" and pci.busIdLegacy == "0000:1B:00.0"  # str, not bytes
    values = fake.nvmlDeviceGetFieldValues(h, [fake.NVML_FI_DEV_NVLINK_LINK_COUNT,
                                               fake.NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT])
    assert values[0].nvmlReturn == 0 and values[0].value.uiVal == 18
    assert values[1].nvmlReturn == fake.NVML_ERROR_NOT_SUPPORTED  # per entry, nothing raised


def test_nvlink_calls_on_pcie_only_gpu_and_past_last_link() -> None:
    fake = load("rtx4090-8x-pcie-two-sockets")
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(fake.NVMLError_NotSupported):
        fake.nvmlDeviceGetNvLinkState(h, 0)
    nvl = load("h100nvl-4x-gpu01-nvlink-down")
    nvl.nvmlInit()
    h = nvl.nvmlDeviceGetHandleByIndex(0)
    assert nvl.nvmlDeviceGetNvLinkState(h, 17) == nvl.NVML_FEATURE_DISABLED
    with pytest.raises(nvl.NVMLError_InvalidArgument):
        nvl.nvmlDeviceGetNvLinkState(h, 18)


def test_init_failures_and_missing_symbols() -> None:
    machine = load_machine(FIXTURES / "hgx-h100-nvswitch.yaml")
    machine.faults = {"init_error": "LibraryNotFound"}
    with pytest.raises(Exception) as exc:
        load(machine).nvmlInit()
    assert type(exc.value).__name__ == "NVMLError_LibraryNotFound"
    machine.faults = {"init_error": "DriverNotLoaded"}
    with pytest.raises(Exception) as exc:
        load(machine).nvmlInit()
    assert type(exc.value).__name__ == "NVMLError_DriverNotLoaded" and str(exc.value) == "Driver Not Loaded"
    machine.faults = {"missing_functions": ["nvmlDeviceGetGpuFabricInfoV"]}
    fake = load(machine)
    fake.nvmlInit()
    with pytest.raises(fake.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetGpuFabricInfoV(fake.nvmlDeviceGetHandleByIndex(0),
                                         ctypes.byref(fake.c_nvmlGpuFabricInfo_v3_t()))


def test_gpu_lost_from_a_given_call_onward() -> None:
    fake = load("hgx-h100-gpu-lost-halfway")
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(6)
    assert fake.nvmlDeviceGetName(h) == "NVIDIA H100 80GB HBM3"
    with pytest.raises(fake.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetNvLinkState(h, 0)
    with pytest.raises(fake.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetName(h)  # and everything after
    assert fake.nvmlDeviceGetName(fake.nvmlDeviceGetHandleByIndex(5)) == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_machine_loads(name: str) -> None:
    machine = load_machine(FIXTURES / f"{name}.yaml")
    assert machine.gpus and machine.description
    for g in machine.gpus:
        if g.links is not None:
            assert all(link.version_enum for link in g.links)
