"""Read the node through NVML (nvidia-ml-py, `import pynvml`): the only module that touches pynvml.

The library is a parameter (`lib=None` imports pynvml lazily), so tests pass a fake module and nothing
else changes. Every call goes through `NvmlReader.query`, which returns the value or `Unknown(<NVML
error class name>)`: a field the driver refuses degrades alone, a GPU that falls off the bus
(`NVMLError_GpuIsLost`) becomes `Gpu(status="lost")` while the others are still read, and only a
failed `nvmlInit` stops the probe (`ProbeError`, with a hint). The reading runs in a worker thread
under a deadline, so a wedged driver cannot hang a cron job: past it, `ProbeError` names the call.

The probe only gathers facts (per-GPU ports, pairwise PCIe path, NVLink counts, P2P codes); turning
them into links with expected counts and health is `tpdoctor.model.links.build_links`'s job.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from types import ModuleType
from typing import Any
from uuid import UUID

from tpdoctor.model.errors import ProbeError
from tpdoctor.model.fabric import decode_health_mask, node_domain
from tpdoctor.model.safetext import kernel_host
from tpdoctor.model.settings import NVML_DEADLINE
from tpdoctor.model.topology import Fabric, Gpu, NvLinkPort, Pcie, Topology
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes.limits import DEADLINE_ENV, DEFAULT_DEADLINE_SECONDS  # noqa: F401  (re-exported)
from tpdoctor.probes.nvml_facts import (
    FABRIC_HEALTH,
    FABRIC_RETRY,
    FABRIC_STATE,
    FABRIC_STRUCTS,
    FI_LINK_COUNT,
    FI_PCIE_REPLAY,
    FI_SWITCH_LINKS,
    GpuLost,
    NvmlFacts,
    bus_id,
    cpu_list,
    nvlink_counts,
    resolve_peers,
    set_bits,
    virtualization_mode,
)
from tpdoctor.probes.nvml_health import read_health
from tpdoctor.probes.nvml_links import read_pairs, read_ports
from tpdoctor.probes.nvml_procs import compute_processes, running_table
from tpdoctor.probes.runner import env_seconds

_CPU_WORDS = 64  # 4096 CPUs
_NODE_WORDS = 4  # 256 NUMA nodes

_INIT_HINTS = {
    "NVMLError_LibraryNotFound": "libnvidia-ml.so.1 is missing: install the NVIDIA driver, or run the "
                                 "container with --gpus (NVIDIA_DRIVER_CAPABILITIES must include utility)",
    "NVMLError_DriverNotLoaded": "the nvidia kernel module is not loaded: check `lsmod | grep nvidia` and "
                                 "dmesg, then `modprobe nvidia`",
    "NVMLError_NoPermission": "no access to /dev/nvidiactl or /dev/nvidia*: run as a user in the video "
                              "group, or give the container the GPU devices",
    "NVMLError_LibRmVersionMismatch": "the driver was upgraded without a reboot: reboot, or reload the "
                                      "nvidia kernel modules",
    "NVMLError_Unknown": "in a container this usually follows a host `systemctl daemon-reload` dropping "
                         "the device cgroup rules: recreate the container",
}


class NvmlDeadlineError(ProbeError):
    """The NVML read overran its deadline: a wedged driver. Not a reason to fall back to nvidia-smi."""


def _import_pynvml() -> ModuleType:
    try:
        import pynvml  # the only import of pynvml in tpdoctor
    except ImportError as exc:
        raise ProbeError(f"cannot import pynvml: {exc}",
                         hint="pip install nvidia-ml-py, or use --probe smi") from exc
    return pynvml


class NvmlReader:
    """One probe run: counts calls, remembers the call in flight (for the deadline message)."""

    def __init__(self, lib: ModuleType, *, processes: bool = True) -> None:
        self.lib = lib
        self.processes = processes  # read the compute-process table (1-2 calls per GPU, inside the deadline)
        self.calls = 0
        self.by_function: Counter[str] = Counter()
        self.in_flight: str | None = None
        self.failed_call: str | None = None  # the call that raised something other than an NVMLError
        self.notes: list[str] = []

    def query(self, name: str, *args: Any, what: str = "", then: Callable[[Any], Any] | None = None) -> Any:
        """Call `lib.<name>(*args)`: the value, or Unknown(error class name). GpuIsLost raises GpuLost.

        `then` turns the raw value into the field (e.g. a struct's `busId`) inside the same guard, so
        a value the driver fills with bytes that are not text (empty or garbage bus ids in VMs,
        NvLinkRemotePciInfo) becomes Unknown for that field alone, never a failed probe."""
        self.calls += 1
        self.by_function[name] += 1
        self.in_flight = f"{name}({what})" if what else name
        fn = getattr(self.lib, name, None)
        if fn is None:
            return Unknown(f"{name} missing from this pynvml")
        try:
            value = fn(*args)
            if then is not None:
                value = then(value)
        except UnicodeDecodeError as exc:
            return Unknown(f"{name}: not text ({exc.object[:16]!r})")
        except self.lib.NVMLError as exc:
            cls = type(exc).__name__
            if cls == "NVMLError_GpuIsLost":
                raise GpuLost(name) from exc
            return Unknown(cls)
        except ctypes.ArgumentError as exc:  # a tpdoctor bug (pitfall P1), never the user's: degrade
            return Unknown(f"ctypes.ArgumentError: {exc}")
        except Exception:
            self.failed_call = self.failed_call or self.in_flight
            raise
        finally:
            self.in_flight = None
        return value

    def note_once(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def _error_name(self, code: int) -> str:
        try:
            return str(self.lib.nvmlExceptionClass(code).__name__)
        except ValueError:
            return f"nvmlReturn {code}"

    # ---- whole node ------------------------------------------------------------------------------

    def read(self) -> NvmlFacts:
        lib = self.lib
        try:
            self.calls += 1
            self.by_function["nvmlInit"] += 1
            self.in_flight = "nvmlInit"
            lib.nvmlInit()
        except lib.NVMLError as exc:
            cls = type(exc).__name__
            raise ProbeError(f"cannot start NVML: {exc} ({cls})",
                             hint=_INIT_HINTS.get(cls, "check that `nvidia-smi` works; or use --probe smi")
                             ) from exc
        finally:
            self.in_flight = None
        try:
            facts = self._read_node()
        finally:
            self.query("nvmlShutdown")
        return replace(facts, calls=self.calls, calls_by_function=dict(self.by_function))

    def _read_node(self) -> NvmlFacts:
        driver = self.query("nvmlSystemGetDriverVersion")
        cuda_int = self.query("nvmlSystemGetCudaDriverVersion")
        cuda: Maybe[str] = cuda_int if isinstance(cuda_int, Unknown) else \
            f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
        count = self.query("nvmlDeviceGetCount")
        if isinstance(count, Unknown):
            raise ProbeError(f"NVML could not count the GPUs ({count.reason})",
                             hint="check that `nvidia-smi` lists the GPUs; or use --probe smi")
        gpus: list[Gpu] = []
        handles: dict[int, Any] = {}
        switch_links: dict[int, Maybe[int]] = {}
        for index in range(count):
            gpu, handle, sw = self._read_gpu(index)
            gpus.append(gpu)
            switch_links[index] = sw
            if handle is not None and gpu.status == "ok":
                handles[index] = handle
        pcie, p2p, lost = read_pairs(self, gpus, handles)
        gpus = [replace(g, status="lost", status_reason=f"NVMLError_GpuIsLost during {lost[g.index]}")
                if g.index in lost else g for g in gpus]
        gpus = resolve_peers(gpus)
        counts, switched, count_notes = nvlink_counts(gpus, switch_links, p2p)
        self.notes.extend(count_notes)
        procs, procs_unread = compute_processes(self, {i: h for i, h in handles.items() if i not in lost}) \
            if self.processes else ((), "not read")
        return NvmlFacts(
            gpus=tuple(gpus), pcie_paths=pcie, nvlink_counts=counts, p2p=p2p, switch_fabric=switched,
            driver_version=driver, cuda_version=cuda, notes=tuple(self.notes), calls=self.calls,
            calls_by_function=dict(self.by_function), compute_processes=procs, compute_unread=procs_unread)

    # ---- one GPU ---------------------------------------------------------------------------------

    def _read_gpu(self, index: int) -> tuple[Gpu, Any, Maybe[int]]:
        got: dict[str, Any] = {}
        handle = None
        try:
            handle = self.query("nvmlDeviceGetHandleByIndex", index, what=f"GPU{index}")
            if isinstance(handle, Unknown):
                self.notes.append(f"GPU{index}: no handle ({handle.reason})")
                return Gpu(index=index, name="unknown", status="error",
                           status_reason=f"nvmlDeviceGetHandleByIndex: {handle.reason}"), None, handle
            got["name"] = self.query("nvmlDeviceGetName", handle, what=f"GPU{index}")
            got["uuid"] = self.query("nvmlDeviceGetUUID", handle, what=f"GPU{index}")
            got["pci_bus_id"] = self.query("nvmlDeviceGetPciInfo", handle, what=f"GPU{index}",
                                           then=lambda pci: bus_id(pci.busId))
            mem = self.query("nvmlDeviceGetMemoryInfo", handle, what=f"GPU{index}")
            got["memory_mib"] = mem if isinstance(mem, Unknown) else int(mem.total) // (1024 * 1024)
            got["numa_node"] = self._numa(handle, index)
            aff = self.query("nvmlDeviceGetCpuAffinity", handle, _CPU_WORDS, what=f"GPU{index}")
            got["cpu_affinity"] = aff if isinstance(aff, Unknown) else cpu_list(aff)
            fields = self.fields(handle, index, [FI_LINK_COUNT, FI_SWITCH_LINKS, FI_PCIE_REPLAY])
            got["pcie"] = self._pcie(handle, index, fields[FI_PCIE_REPLAY])
            got["mig"], mig_mode = self._mig(handle, index)
            got["virtualization"] = self.query("nvmlDeviceGetVirtualizationMode", handle, what=f"GPU{index}",
                                               then=virtualization_mode)
            got["nvlinks"], got["nvlinks_unread"] = read_ports(self, handle, index, fields[FI_LINK_COUNT],
                                                               got["mig"] is True)
            got["fabric"] = self._fabric(handle, index)
            got["health"] = read_health(self, handle, index, mig_mode)
        except GpuLost as lost:
            name = got.get("name")
            self.notes.append(f"GPU{index}: lost during {lost.call} (NVMLError_GpuIsLost)")
            return Gpu(index=index, name=name if isinstance(name, str) else "unknown",
                       uuid=got.get("uuid", Unknown("GPU lost")),
                       pci_bus_id=got.get("pci_bus_id", Unknown("GPU lost")),
                       status="lost", status_reason=f"NVMLError_GpuIsLost during {lost.call}"), None, \
                Unknown("GPU lost")
        ports: tuple[NvLinkPort, ...] = got["nvlinks"]
        versions = [p.version for p in ports if isinstance(p.version, int)]
        name = got["name"]
        gpu = Gpu(index=index, name=name if isinstance(name, str) else "unknown", uuid=got["uuid"],
                  pci_bus_id=got["pci_bus_id"], memory_mib=got["memory_mib"], numa_node=got["numa_node"],
                  cpu_affinity=got["cpu_affinity"],
                  nvlink_version=max(versions) if versions else Unknown("no NVLink version read"),
                  nvlinks=ports, nvlinks_unread=got["nvlinks_unread"], pcie=got["pcie"], mig=got["mig"],
                  fabric=got["fabric"], virtualization=got["virtualization"], health=got["health"])
        return gpu, handle, fields[FI_SWITCH_LINKS]

    def fields(self, handle: Any, index: int, ids: list[Any]) -> dict[Any, Maybe[int]]:
        """One nvmlDeviceGetFieldValues batch; each entry carries its own return code."""
        out: dict[Any, Maybe[int]] = {}
        values = self.query("nvmlDeviceGetFieldValues", handle, ids, what=f"GPU{index}")
        for i, fid in enumerate(ids):
            if isinstance(values, Unknown):
                out[fid] = values
                continue
            entry = values[i]
            if entry.nvmlReturn != 0:
                out[fid] = Unknown(self._error_name(int(entry.nvmlReturn)))
                continue
            vt = entry.valueType
            out[fid] = int({1: entry.value.uiVal, 2: entry.value.ulVal, 3: entry.value.ullVal,
                            4: entry.value.sllVal, 5: entry.value.siVal, 6: entry.value.usVal}
                           .get(vt, entry.value.dVal))
        return out

    def _numa(self, handle: Any, index: int) -> Maybe[int]:
        scope = getattr(self.lib, "NVML_AFFINITY_SCOPE_NODE", 0)
        mask = self.query("nvmlDeviceGetMemoryAffinity", handle, _NODE_WORDS, scope, what=f"GPU{index}")
        if isinstance(mask, Unknown):
            return mask
        nodes = set_bits(mask)
        if len(nodes) == 1:
            return nodes[0]
        return Unknown("no NUMA affinity" if not nodes else f"spans NUMA nodes {nodes}")

    def _pcie(self, handle: Any, index: int, replay: Maybe[int]) -> Pcie:
        q = self.query
        w = f"GPU{index}"
        return Pcie(gen_current=q("nvmlDeviceGetCurrPcieLinkGeneration", handle, what=w),
                    gen_max=q("nvmlDeviceGetMaxPcieLinkGeneration", handle, what=w),
                    width_current=q("nvmlDeviceGetCurrPcieLinkWidth", handle, what=w),
                    width_max=q("nvmlDeviceGetMaxPcieLinkWidth", handle, what=w),
                    gpu_gen_max=q("nvmlDeviceGetGpuMaxPcieLinkGeneration", handle, what=w),
                    replay_counter=replay)

    def _mig(self, handle: Any, index: int) -> tuple[Maybe[bool], Any]:
        """(MIG on now, what nvmlDeviceGetMigMode answered: [current, pending] or Unknown)."""
        mode = self.query("nvmlDeviceGetMigMode", handle, what=f"GPU{index}")
        if isinstance(mode, Unknown):
            # a GPU without MIG support certainly runs without MIG
            return (False if mode.reason == "NVMLError_NotSupported" else mode), mode
        current, pending = mode
        if current != pending:
            self.notes.append(f"GPU{index}: MIG mode change pending (current {current}, pending {pending}); "
                              "takes effect after a GPU reset")
        return bool(current == 1), mode

    def _fabric(self, handle: Any, index: int) -> Fabric | None:
        """GpuFabricInfo: the v3 struct, else v2 (a driver without v3: ArgumentVersionMismatch), else the
        legacy call (driver < 550: FunctionNotFound). None when the GPU has no fabric call at all."""
        lib = self.lib
        w = f"GPU{index}"
        info: Any = None
        rc: Any = Unknown("no fabric struct in this pynvml")
        v_missing = False
        for struct in FABRIC_STRUCTS:
            legacy = struct == FABRIC_STRUCTS[-1]
            cls = getattr(lib, struct, None)
            if cls is None or (v_missing and not legacy):
                continue
            info = cls()  # a fresh struct per call: stale padding would corrupt `state` (nvml-fabric notes)
            rc = self.query("nvmlDeviceGetGpuFabricInfo" if legacy else "nvmlDeviceGetGpuFabricInfoV", handle,
                            ctypes.byref(info), what=w)
            if not (isinstance(rc, Unknown) and rc.reason in FABRIC_RETRY):
                break
            v_missing = rc.reason == "NVMLError_FunctionNotFound"
        if isinstance(rc, Unknown):
            return None  # pre-Hopper (NotSupported), or no fabric call in this driver
        state = FABRIC_STATE.get(int(info.state), f"state {info.state}")
        status: Maybe[str] = Unknown("meaningful only when the fabric state is completed")
        if state == "completed":
            code = int(info.status)
            status = "success" if code == 0 else self._error_name(code)
        health: Maybe[str] = Unknown("not in this struct version (driver without the v3 call)")
        if hasattr(info, "healthSummary"):
            health = FABRIC_HEALTH.get(int(info.healthSummary), f"summary {info.healthSummary}")
        mask: dict[str, Any] = {}
        if hasattr(info, "healthMask"):
            mask = {"health_mask": int(info.healthMask), **decode_health_mask(int(info.healthMask))}
        raw = bytes(info.clusterUuid)
        uuid = str(UUID(bytes=raw)) if len(raw) == 16 else Unknown(f"{len(raw)}-byte cluster UUID")
        return Fabric(state=state, status=status, health=health, clique_id=int(info.cliqueId),
                      cluster_uuid=uuid, **mask)

def deadline_seconds(timeout_seconds: float | None = None, environ: Mapping[str, str] = os.environ) -> float:
    """The whole-read deadline: $TPDOCTOR_NVML_DEADLINE seconds if set, else 30; never shorter than the
    per-command timeout the user asked for (`--timeout`)."""
    value = env_seconds(DEADLINE_ENV, DEFAULT_DEADLINE_SECONDS, NVML_DEADLINE, environ)
    return max(value, timeout_seconds or 0.0)


def read_facts(lib: ModuleType | None = None, *, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
               processes: bool = True) -> NvmlFacts:
    """Run one NVML read in a worker thread; past the deadline raise ProbeError naming the slow call.
    `processes`: read the compute-process table too (else it is left "not read", no call made)."""
    module = lib if lib is not None else _import_pynvml()
    reader = NvmlReader(module, processes=processes)
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["facts"] = reader.read()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="tpdoctor-nvml", daemon=True)
    worker.start()
    worker.join(deadline_seconds)
    if worker.is_alive():
        slow = reader.in_flight or "an NVML call"
        raise NvmlDeadlineError(f"NVML probe timed out after {deadline_seconds:g}s: {slow} did not return",
                         hint="the driver may be wedged (check dmesg for Xid errors; `nvidia-smi` "
                              "hanging too confirms it); enable persistence mode (nvidia-persistenced)")
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, ProbeError) or not isinstance(exc, Exception):
            raise exc
        # a surprise from an odd driver or pynvml version is still a probe failure, not a crash
        where = reader.failed_call or "setup"
        raise ProbeError(f"NVML probe failed during {where}: {type(exc).__name__}: {exc}",
                         hint="please report this; `--probe smi` reads the node without NVML") from exc
    facts: NvmlFacts = result["facts"]
    return facts


def probe_nvml(lib: ModuleType | None = None, *, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
               host: str | None = None, clock: Callable[[], float] = time.monotonic,
               now: Callable[[], datetime] | None = None, processes: bool = False) -> Topology:
    """The node's Topology as NVML reports it (source "nvml"), with its coverage record. `processes`: also
    carry the compute-process table (`running`, its PIDs not looked up yet: `probes/running.py` does)."""
    from tpdoctor.model.coverage import with_coverage
    from tpdoctor.model.links import build_links

    start = clock()
    facts = read_facts(lib, deadline_seconds=deadline_seconds, processes=processes)
    links, link_notes = build_links(facts.gpus, facts.pcie_paths, facts.nvlink_counts, p2p=facts.p2p,
                                    switch_fabric=facts.switch_fabric)
    stamp = now() if now else datetime.now(timezone.utc).replace(microsecond=0)
    captured = stamp.isoformat().replace("+00:00", "Z")
    return with_coverage(Topology(
        host=host or kernel_host(), source="nvml", captured_at=captured, gpus=facts.gpus, links=links,
        driver_version=facts.driver_version, cuda_version=facts.cuda_version, nvlink_domain=node_domain(facts.gpus),
        probe_notes=(*facts.notes, *link_notes, f"nvml: {facts.calls} calls"),
        probe_duration_seconds=round(clock() - start, 6), running=running_table(facts) if processes else None))




__all__ = ["NvmlDeadlineError", "NvmlFacts", "NvmlReader", "deadline_seconds", "probe_nvml", "read_facts"]
