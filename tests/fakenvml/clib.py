"""A fake `libnvidia-ml.so.1`: the C entry points pynvml calls, answering from a `Machine`.

pynvml's Python layer is used unchanged (see `fakenvml.load`); only the shared library under it is fake.
So every name, signature, struct, constant and error class is pynvml's own, and this class only has to
behave like the C library: return an `nvmlReturn_t` code, write results through the pointers it is
given, and refuse arguments that ctypes could not convert (pitfall P1: a tuple raises
`ctypes.ArgumentError`, not an NVMLError).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.fakenvml.health import HealthCalls
from tests.fakenvml.machine import CAP_NAMES, ERROR_NAMES, FakeGpu, Machine

SUCCESS, UNINITIALIZED, INVALID_ARGUMENT, NOT_SUPPORTED, NOT_FOUND = 0, 1, 2, 3, 6
GPU_IS_LOST, FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH = 15, 13, 25
ERROR_CODES = {"Uninitialized": 1, "InvalidArgument": 2, "NotSupported": 3, "NoPermission": 4,
               "NotFound": 6, "InsufficientPower": 8, "DriverNotLoaded": 9, "Timeout": 10,
               "IrqIssue": 11, "LibraryNotFound": 12, "FunctionNotFound": 13, "GpuIsLost": 15,
               "ResetRequired": 16, "LibRmVersionMismatch": 18, "Unknown": 999}
_CARG = type(ctypes.byref(ctypes.c_int()))
_CTYPES_OK = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._Pointer, _CARG)
_ERROR_STRINGS = {19: b"In use by another client", 21: b"No data", 26: b"Deprecated API"}


def _target(arg: Any) -> Any:
    """The object behind a `byref(x)` argument (or `x` itself when passed directly)."""
    return getattr(arg, "_obj", arg) if isinstance(arg, _CARG) else arg


class FakeNvmlLib(HealthCalls):
    """Attribute access yields C functions; a symbol the fake 'driver' lacks raises AttributeError,
    which pynvml turns into NVMLError_FunctionNotFound exactly as with a real old driver."""

    def __init__(self, machine: Machine, sleep: Callable[[float], object] = time.sleep) -> None:
        self.machine = machine
        self.calls: Counter[str] = Counter()
        self._sleep = sleep
        self._refcount = 0
        self._lock = threading.Lock()
        self._lost: set[int] = set()
        # one stable fake address per GPU: handles are pointers holding it
        self._cells = [ctypes.create_string_buffer(8) for _ in machine.gpus]
        self._by_addr = {ctypes.addressof(c): g for c, g in zip(self._cells, machine.gpus)}
        faults = machine.faults
        self._missing = set(faults.get("missing_functions") or [])
        self._delay = faults.get("delay") or {}
        self._lost_spec = faults.get("lost") or {}
        self._errors = list(faults.get("errors") or [])
        self._unsupported_fields = {int(f) for f in faults.get("unsupported_fields") or []}
        self._remote_bus_id = faults.get("remote_bus_id") or {}
        self._field_147_zero = bool(faults.get("field_147_zero"))
        self._fabric_max = int(faults.get("fabric_struct_max", 3))
        self._past_end = INVALID_ARGUMENT if faults.get("past_last_link", "invalid_argument") == \
            "invalid_argument" else NOT_SUPPORTED

    # ---- plumbing -------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Any]:
        impl = getattr(type(self), "c_" + name, None)
        if impl is None or name in self._missing or name.startswith("_"):
            raise AttributeError(name)

        def c_function(*args: Any) -> Any:
            for n, a in enumerate(args, start=1):
                if not (a is None or isinstance(a, (int, bytes, str, _CTYPES_OK))):
                    raise ctypes.ArgumentError(f"argument {n}: TypeError: Don't know how to convert "
                                               f"parameter {n}")
            with self._lock:
                self.calls[name] = self.calls[name] + 1
            base = name[:-3] if name[-3:-1] == "_v" else name
            delayed = self._delay.get("call") if self._delay else None
            if delayed in (name, base) or (delayed == "nvmlInit" and name.startswith("nvmlInit")):
                self._sleep(float(self._delay.get("seconds", 1.0)))
            if name not in ("nvmlInitWithFlags", "nvmlInit_v2", "nvmlErrorString") and self._refcount == 0:
                return UNINITIALIZED
            rv = impl(self, *args)
            return rv if isinstance(rv, bytes) else int(rv)

        c_function.__name__ = name
        return c_function

    def _gpu(self, handle: Any, call: str) -> FakeGpu | int:
        """The GPU behind a handle, or an error code (bad handle, lost GPU, injected error)."""
        h = _target(handle)
        try:
            addr = ctypes.cast(h, ctypes.c_void_p).value
        except ctypes.ArgumentError:
            return INVALID_ARGUMENT
        g = self._by_addr.get(addr or 0)
        if g is None:
            return INVALID_ARGUMENT
        return self._check(g, call)

    def _check(self, g: FakeGpu, call: str) -> FakeGpu | int:
        spec = self._lost_spec
        if spec and int(spec.get("gpu", -1)) == g.index and (
                g.index in self._lost or spec.get("from_call") in (call, None)):
            self._lost.add(g.index)
            return GPU_IS_LOST
        for e in self._errors:
            if e.get("call") == call and int(e.get("gpu", g.index)) == g.index:
                return ERROR_CODES[str(e["error"])]
        return g

    def _set_handle(self, out: Any, g: FakeGpu) -> None:
        ptr = _target(out)
        ctypes.c_void_p.from_address(ctypes.addressof(ptr)).value = ctypes.addressof(self._cells[g.index])

    def _link(self, handle: Any, link: Any, call: str) -> tuple[FakeGpu, int] | int:
        g = self._gpu(handle, call)
        if isinstance(g, int):
            return g
        if g.links is None:
            return NOT_SUPPORTED
        if not isinstance(link, int) or link < 0:
            return INVALID_ARGUMENT
        if link >= len(g.links):
            return self._past_end
        return g, link

    @staticmethod
    def _put(out: Any, value: Any) -> int:
        _target(out).value = value
        return SUCCESS

    # ---- init, system ---------------------------------------------------------------------------

    def c_nvmlInitWithFlags(self, flags: int) -> int:
        err = self.machine.faults.get("init_error")
        if err and err != "LibraryNotFound":
            return ERROR_CODES[str(err)]
        self._refcount += 1
        return SUCCESS

    def c_nvmlShutdown(self) -> int:
        self._refcount = max(0, self._refcount - 1)
        return SUCCESS

    def c_nvmlErrorString(self, result: int) -> bytes:
        return _ERROR_STRINGS.get(result, b"Unknown Error")

    def c_nvmlSystemGetDriverVersion(self, buf: Any, size: Any) -> int:
        return self._put(buf, self.machine.driver_version.encode())

    def c_nvmlSystemGetNVMLVersion(self, buf: Any, size: Any) -> int:
        major = self.machine.cuda_driver_version // 1000
        return self._put(buf, f"{major}.{self.machine.driver_version}".encode())

    def c_nvmlSystemGetCudaDriverVersion(self, out: Any) -> int:
        return self._put(out, self.machine.cuda_driver_version)

    c_nvmlSystemGetCudaDriverVersion_v2 = c_nvmlSystemGetCudaDriverVersion

    def c_nvmlDeviceGetCount_v2(self, out: Any) -> int:
        return self._put(out, len(self.machine.gpus))

    # ---- handles, identity ----------------------------------------------------------------------

    def c_nvmlDeviceGetHandleByIndex_v2(self, index: Any, out: Any) -> int:
        i = index.value if isinstance(index, ctypes.c_uint) else index
        if not isinstance(i, int) or not 0 <= i < len(self.machine.gpus):
            return INVALID_ARGUMENT
        g = self._check(self.machine.gpus[i], "nvmlDeviceGetHandleByIndex")
        if isinstance(g, int):
            return g
        self._set_handle(out, g)
        return SUCCESS

    def _by(self, pred: Callable[[FakeGpu], bool], out: Any) -> int:
        for g in self.machine.gpus:
            if pred(g):
                self._set_handle(out, g)
                return SUCCESS
        return NOT_FOUND

    def c_nvmlDeviceGetHandleByUUID(self, uuid: Any, out: Any) -> int:
        text = (_target(uuid).value or b"").decode()
        return self._by(lambda g: g.uuid == text, out)

    def c_nvmlDeviceGetHandleByPciBusId_v2(self, bus: Any, out: Any) -> int:
        text = (_target(bus).value or b"").decode()
        parts = text.replace(".", ":").split(":")
        try:
            nums = [int(x, 16) for x in parts]
        except ValueError:
            return INVALID_ARGUMENT
        if len(nums) == 3:
            nums = [0, *nums] if "." in text else [*nums, 0]
        return self._by(lambda g: (g.domain, g.bus, g.device, 0) == tuple(nums), out)

    def _device_value(self, handle: Any, out: Any, call: str, value: Callable[[FakeGpu], Any]) -> int:
        g = self._gpu(handle, call)
        if isinstance(g, int):
            return g
        v = value(g)
        if v is None:
            return NOT_SUPPORTED
        return self._put(out, v)

    def c_nvmlDeviceGetName(self, h: Any, buf: Any, size: Any) -> int:
        return self._device_value(h, buf, "nvmlDeviceGetName", lambda g: g.name.encode())

    def c_nvmlDeviceGetUUID(self, h: Any, buf: Any, size: Any) -> int:
        return self._device_value(h, buf, "nvmlDeviceGetUUID", lambda g: g.uuid.encode())

    def c_nvmlDeviceGetIndex(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetIndex", lambda g: g.index)

    def c_nvmlDeviceGetMinorNumber(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetMinorNumber", lambda g: g.index)

    def c_nvmlDeviceGetArchitecture(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetArchitecture", lambda g: g.arch)

    @staticmethod
    def _fill_pci(info: Any, g: FakeGpu, subsystem: bool = True) -> None:
        info.busId = g.bus_id.encode()
        info.busIdLegacy = f"{g.domain:04X}:{g.bus:02X}:{g.device:02X}.0".encode()
        info.domain, info.bus, info.device = g.domain, g.bus, g.device
        info.pciDeviceId = g.pci_device_id
        info.pciSubSystemId = 0x16A110DE if subsystem else 0

    def c_nvmlDeviceGetPciInfo_v3(self, h: Any, out: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetPciInfo")
        if isinstance(g, int):
            return g
        self._fill_pci(_target(out), g)
        return SUCCESS

    def c_nvmlDeviceGetMemoryInfo(self, h: Any, out: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetMemoryInfo")
        if isinstance(g, int):
            return g
        m = _target(out)
        m.total = g.memory_mib * 1024 * 1024
        m.used = 512 * 1024 * 1024
        m.free = m.total - m.used
        return SUCCESS

    def c_nvmlDeviceGetMemoryInfo_v2(self, h: Any, out: Any) -> int:
        if _target(out).version != 0x02000028:
            return 25  # ARGUMENT_VERSION_MISMATCH
        rc = self.c_nvmlDeviceGetMemoryInfo(h, out)
        if rc == SUCCESS:
            _target(out).reserved = 0
        return rc

    # ---- PCIe -----------------------------------------------------------------------------------

    def c_nvmlDeviceGetCurrPcieLinkGeneration(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetCurrPcieLinkGeneration", lambda g: g.pcie.get("gen"))

    def c_nvmlDeviceGetCurrPcieLinkWidth(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetCurrPcieLinkWidth", lambda g: g.pcie.get("width"))

    def c_nvmlDeviceGetMaxPcieLinkGeneration(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetMaxPcieLinkGeneration",
                                  lambda g: g.pcie.get("max_gen"))

    def c_nvmlDeviceGetMaxPcieLinkWidth(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetMaxPcieLinkWidth", lambda g: g.pcie.get("max_width"))

    def c_nvmlDeviceGetGpuMaxPcieLinkGeneration(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetGpuMaxPcieLinkGeneration",
                                  lambda g: g.pcie.get("gpu_max_gen", g.pcie.get("max_gen")))

    def c_nvmlDeviceGetPcieLinkMaxSpeed(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetPcieLinkMaxSpeed",
                                  lambda g: g.pcie.get("max_gen"))  # enum 1..6 follows the generation

    # ---- topology, affinity, P2P ----------------------------------------------------------------

    def _pair(self, h1: Any, h2: Any, call: str) -> tuple[FakeGpu, FakeGpu] | int:
        a = self._gpu(h1, call)
        if isinstance(a, int):
            return a
        b = self._gpu(h2, call)
        if isinstance(b, int):
            return b
        return a, b

    def c_nvmlDeviceGetTopologyCommonAncestor(self, h1: Any, h2: Any, out: Any) -> int:
        pair = self._pair(h1, h2, "nvmlDeviceGetTopologyCommonAncestor")
        if isinstance(pair, int):
            return pair
        a, b = pair
        if a.index == b.index:
            return self._put(out, 0)
        return self._put(out, self.machine.levels[(min(a.index, b.index), max(a.index, b.index))])

    def c_nvmlDeviceGetP2PStatus(self, h1: Any, h2: Any, index: Any, out: Any) -> int:
        pair = self._pair(h1, h2, "nvmlDeviceGetP2PStatus")
        if isinstance(pair, int):
            return pair
        a, b = pair
        if not isinstance(index, int) or not 0 <= index <= 5 or a.index == b.index:
            return INVALID_ARGUMENT
        return self._put(out, self.machine.p2p[(min(a.index, b.index), max(a.index, b.index))][index])

    @staticmethod
    def _fill_mask(out: Any, size: Any, bits: list[int]) -> int:
        arr = _target(out)
        n = size if isinstance(size, int) else size.value
        for bit in bits:
            if bit // 64 < n:
                arr[bit // 64] |= 1 << (bit % 64)
        return SUCCESS

    def c_nvmlDeviceGetCpuAffinity(self, h: Any, size: Any, out: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetCpuAffinity")
        if isinstance(g, int):
            return g
        return self._fill_mask(out, size, g.cpu_affinity)

    def c_nvmlDeviceGetCpuAffinityWithinScope(self, h: Any, size: Any, out: Any, scope: Any) -> int:
        return self.c_nvmlDeviceGetCpuAffinity(h, size, out)

    def c_nvmlDeviceGetMemoryAffinity(self, h: Any, size: Any, out: Any, scope: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetMemoryAffinity")
        if isinstance(g, int):
            return g
        if g.numa_node is None:
            return NOT_SUPPORTED
        return self._fill_mask(out, size, [int(g.numa_node)])

    def c_nvmlDeviceGetNumaNodeId(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetNumaNodeId", lambda g: g.gpu_numa_id)

    # ---- NVLink ---------------------------------------------------------------------------------

    def _link_value(self, h: Any, link: Any, out: Any, call: str, value: Callable[..., Any]) -> int:
        r = self._link(h, link, call)
        if isinstance(r, int):
            return r
        g, k = r
        v = value(g.links[k]) if g.links is not None else None
        if v is None:
            return NOT_SUPPORTED
        return self._put(out, v)

    def c_nvmlDeviceGetNvLinkState(self, h: Any, link: Any, out: Any) -> int:
        return self._link_value(h, link, out, "nvmlDeviceGetNvLinkState", lambda lk: int(lk.active))

    def c_nvmlDeviceGetNvLinkVersion(self, h: Any, link: Any, out: Any) -> int:
        return self._link_value(h, link, out, "nvmlDeviceGetNvLinkVersion", lambda lk: lk.version_enum)

    def c_nvmlDeviceGetNvLinkCapability(self, h: Any, link: Any, cap: Any, out: Any) -> int:
        if not isinstance(cap, int) or not 0 <= cap < len(CAP_NAMES):
            return INVALID_ARGUMENT
        return self._link_value(h, link, out, "nvmlDeviceGetNvLinkCapability",
                                lambda lk: int(lk.caps.get(CAP_NAMES[cap], 0)))

    def c_nvmlDeviceGetNvLinkErrorCounter(self, h: Any, link: Any, counter: Any, out: Any) -> int:
        if not isinstance(counter, int) or not 0 <= counter < len(ERROR_NAMES):
            return INVALID_ARGUMENT
        return self._link_value(h, link, out, "nvmlDeviceGetNvLinkErrorCounter",
                                lambda lk: int(lk.errors.get(ERROR_NAMES[counter], 0)))

    def c_nvmlDeviceGetNvLinkRemotePciInfo_v2(self, h: Any, link: Any, out: Any) -> int:
        r = self._link(h, link, "nvmlDeviceGetNvLinkRemotePciInfo")
        if isinstance(r, int):
            return r
        g, k = r
        lk = g.links[k]  # type: ignore[index]
        if lk.remote_bus_id is None:
            return NOT_SUPPORTED
        info = _target(out)
        fault = self._remote_bus_id
        if fault and g.index in fault.get("gpus", [x.index for x in self.machine.gpus]):
            # a VM's answer: success, and a bus id that is empty or not text at all
            info.busId = b"" if fault.get("mode") == "empty" else b"\xff\xfe\x80GPU\xc3"
            info.busIdLegacy = info.busId
            return SUCCESS
        peer = next((x for x in self.machine.gpus if x.bus_id == lk.remote_bus_id), None)
        if peer is not None:
            self._fill_pci(info, peer, subsystem=False)
        else:  # an NVSwitch, or a GPU hidden from this container
            parts = lk.remote_bus_id.split(":")
            info.busId = lk.remote_bus_id.encode()
            info.domain, info.bus = int(parts[0], 16), int(parts[1], 16)
            info.device = int(parts[2].split(".")[0], 16)
            info.busIdLegacy = f"{info.domain:04X}:{info.bus:02X}:{info.device:02X}.0".encode()
            info.pciDeviceId = 0x1AF110DE if lk.remote_kind == "switch" else g.pci_device_id
        return SUCCESS

    def c_nvmlDeviceGetNvLinkRemoteDeviceType(self, h: Any, link: Any, out: Any) -> int:
        kinds = {"gpu": 0, "switch": 2}
        return self._link_value(h, link, out, "nvmlDeviceGetNvLinkRemoteDeviceType",
                                lambda lk: kinds.get(lk.remote_kind or ""))

    # ---- field values ---------------------------------------------------------------------------

    def c_nvmlDeviceGetFieldValues(self, h: Any, count: Any, out: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetFieldValues")
        if isinstance(g, int):
            return g
        arr = _target(out)
        n = count.value if isinstance(count, ctypes.c_int32) else int(count)
        for i in range(n):
            self._field(g, arr[i])
        return SUCCESS

    def _field(self, g: FakeGpu, entry: Any) -> None:
        entry.timestamp = int(time.time() * 1e6)
        entry.latencyUsec = 1
        fid, scope = entry.fieldId, entry.scopeId
        links = g.links
        value: int | None = None
        if links is not None:
            if fid == 91:
                value = len(links)
            elif fid == 147:
                switch = [lk for lk in links if lk.remote_kind == "switch"]
                value = sum(lk.active for lk in switch) if switch else (0 if self._field_147_zero else None)
            elif fid == 90:
                active = [lk.speed_mbps for lk in links if lk.active]
                value = active[0] if active else 0
            elif fid in (164, 165, 166) and scope < len(links):
                lk = links[scope]
                value = {164: lk.speed_mbps if lk.active else 0, 165: int(lk.active),
                         166: lk.version_enum}[fid]
        if fid == 94:
            value = g.pcie.get("replay", 0)
        if value is None:
            value = self.health_field(g, fid)
        if value is None or fid in self._unsupported_fields:
            entry.nvmlReturn = NOT_SUPPORTED
            return
        entry.nvmlReturn = SUCCESS
        entry.valueType = 1
        entry.value.uiVal = value

    # ---- fabric, MIG ----------------------------------------------------------------------------

    def _fabric(self, h: Any, out: Any, call: str, versioned: bool) -> int:
        g = self._gpu(h, call)
        if isinstance(g, int):
            return g
        if g.fabric is None:
            return NOT_SUPPORTED
        info = _target(out)
        known = {0x02000024: 2, 0x3000028: 3}  # struct version word -> version
        if versioned and (info.version not in known or known[info.version] > self._fabric_max):
            return ARGUMENT_VERSION_MISMATCH
        info.state = g.fabric["state"]
        info.status = g.fabric["status"]
        info.cliqueId = g.fabric["clique_id"]
        for i, byte in enumerate(g.fabric["cluster_uuid"]):
            info.clusterUuid[i] = byte
        if versioned:
            info.healthMask = g.fabric["health_mask"]
            if info.version == 0x3000028:
                info.healthSummary = g.fabric["health_summary"]
        return SUCCESS

    def c_nvmlDeviceGetGpuFabricInfo(self, h: Any, out: Any) -> int:
        return self._fabric(h, out, "nvmlDeviceGetGpuFabricInfo", versioned=False)

    def c_nvmlDeviceGetGpuFabricInfoV(self, h: Any, out: Any) -> int:
        return self._fabric(h, out, "nvmlDeviceGetGpuFabricInfoV", versioned=True)

    def c_nvmlDeviceGetMigMode(self, h: Any, cur: Any, pending: Any) -> int:
        g = self._gpu(h, "nvmlDeviceGetMigMode")
        if isinstance(g, int):
            return g
        if g.mig is None:
            return NOT_SUPPORTED
        _target(cur).value, _target(pending).value = g.mig
        return SUCCESS

    def c_nvmlDeviceGetVirtualizationMode(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceGetVirtualizationMode", lambda g: g.virtualization)

    def c_nvmlDeviceIsMigDeviceHandle(self, h: Any, out: Any) -> int:
        return self._device_value(h, out, "nvmlDeviceIsMigDeviceHandle", lambda g: 0)
