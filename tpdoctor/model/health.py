"""What the driver says about a GPU beyond its links: memory repair state, ECC, reset status, clock events, the
infoROM (`GpuHealth`); GPUs it knows of but cannot read (`MissingGpu`); and how much of the node a check sees
(`View`).

Read from `nvidia-smi -q` (probes/smi_health.py) or NVML (probes/nvml_health.py). Every field is a value or an
`Unknown`: `Unknown(NOT_SUPPORTED)` is a definite answer ("this GPU has no such thing": nvidia-smi's N/A, NVML's
NotSupported) and counts as read; any other reason means the field was not read, and the verdict's coverage
(`model/coverage.py`, check `gpu_health`) says so. nvidia-smi spells these differently by driver generation:
"Clocks Throttle Reasons" (up to 530) became "Clocks Event Reasons" (535+); "GPU Reset Status" (Reset Required,
Drain and Reset Recommended) was deprecated in 570 for "GPU Recovery Action"; pre-Ampere GPUs retire pages
("Retired Pages", "Pending Page Blacklist" / "Pending Page Retirement") where Ampere and newer remap rows
("Remapped Rows"). The parsers map every spelling onto these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.model.unknown import Maybe, Unknown

NOT_SUPPORTED = "not supported on this GPU"  # nvidia-smi N/A, NVML NotSupported: a definite answer
NOT_READ = "not read"

# NVML_GPU_RECOVERY_ACTION_* (nvml.h, driver 570+) and nvidia-smi -q "GPU Recovery Action" -> the word used here
RECOVERY_ACTIONS = {0: "none", 1: "gpu_reset", 2: "node_reboot", 3: "drain_p2p", 4: "drain_and_reset",
                    5: "recover_imex_domain", 6: "bus_reset", 7: "system_reboot"}
RESET_ACTIONS = frozenset({"gpu_reset", "node_reboot", "bus_reset", "system_reboot"})  # the GPU is unusable until then
DRAIN_ACTIONS = frozenset({"drain_p2p", "drain_and_reset"})  # usable, but should be drained and reset soon


def supported(value: object) -> bool:
    """A field with a real value (not N/A, not unread)."""
    return not isinstance(value, Unknown)


def answered(value: object) -> bool:
    """A field the driver answered: a value, or a definite "not supported here"."""
    return not isinstance(value, Unknown) or value.reason == NOT_SUPPORTED


@dataclass(frozen=True)
class GpuHealth:
    """One GPU's health as the driver reports it (`nvidia-smi -q`, or NVML)."""

    source: str  # "nvidia-smi -q" | "nvml"
    remap_pending: Maybe[bool] = Unknown(NOT_READ)  # rows waiting for a GPU reset to be remapped
    remap_failed: Maybe[bool] = Unknown(NOT_READ)  # "Remapping Failure Occurred": no spare row left
    remap_uncorrectable: Maybe[int] = Unknown(NOT_READ)  # rows remapped for uncorrectable errors
    retired_pending: Maybe[bool] = Unknown(NOT_READ)  # pages waiting for a reset to be retired (pre-Ampere)
    ecc_volatile_uncorrectable: Maybe[int] = Unknown(NOT_READ)  # since the driver loaded (DRAM + SRAM)
    reset_required: Maybe[bool] = Unknown(NOT_READ)  # "Reset Required" (< 570), or a reset recovery action
    drain_recommended: Maybe[bool] = Unknown(NOT_READ)  # "Drain and Reset Recommended" (< 570), or a drain action
    recovery_action: Maybe[str] = Unknown(NOT_READ)  # RECOVERY_ACTIONS word (570+)
    clocks_hw_slowdown: Maybe[bool] = Unknown(NOT_READ)
    clocks_hw_thermal: Maybe[bool] = Unknown(NOT_READ)
    clocks_hw_power_brake: Maybe[bool] = Unknown(NOT_READ)
    clocks_sw_thermal: Maybe[bool] = Unknown(NOT_READ)
    mig_pending: Maybe[bool] = Unknown(NOT_READ)  # the MIG mode after the next reset (enabled?)
    inforom_corrupted: bool = False  # nvidia-smi's "WARNING: infoROM is corrupted at gpu ..." named this GPU

    def memory_answered(self) -> bool:
        """Row remapping or page retirement, whichever this GPU has, was answered."""
        return (supported(self.remap_pending) or supported(self.retired_pending)
                or (answered(self.remap_pending) and answered(self.retired_pending)))

    def clocks_answered(self) -> bool:
        return answered(self.clocks_hw_slowdown)


@dataclass(frozen=True)
class MissingGpu:
    """A GPU the driver or the node's baseline knows of that nothing could read now: fallen off the bus,
    lost, or hidden by a driver that lists no device. Named by its identity (bus id, UUID), never by an index
    it no longer has."""

    bus_id: Maybe[str]
    reason: str  # what says it is missing, in words (the driver's line, or "in the baseline, not seen now")
    source: str  # driver (a line of nvidia-smi, an NVML error) | baseline (the node's baseline had it)
    uuid: Maybe[str] = Unknown("not read")
    name: Maybe[str] = Unknown("not read")
    baseline_index: int | None = None  # its index in the baseline, when the baseline had it
    command: str = ""  # the command whose output said so

    @property
    def ident(self) -> str:
        """`GPU 0000:0B:00.0`, else `GPU GPU-3e34...`, else `a GPU`."""
        if isinstance(self.bus_id, str):
            return f"GPU {self.bus_id}"
        if isinstance(self.uuid, str):
            return f"GPU {self.uuid}"
        return "a GPU"


@dataclass(frozen=True)
class View:
    """How much of the node this check sees. `subset`: a container or an environment variable restricts it
    to some GPUs (`names`, as the variable gives them), and GPUs of the node outside it are not judged."""

    scope: str  # node | subset
    reason: str  # "NVIDIA_VISIBLE_DEVICES=1 (a container given 1 GPU)"
    names: tuple[str, ...] = ()  # the devices the variable names (indices or UUIDs), when it names them
