"""Which CUDA device a rank uses for a GPU index: the NVML index (nvidia-smi's numbering) to the CUDA ordinal.

tpdoctor names GPUs by their NVML index, as `nvidia-smi` prints them; NVML numbers the GPUs in PCI bus
order. CUDA numbers only the devices it can see, fastest first unless told otherwise, so on a node with
mixed GPUs or with `CUDA_VISIBLE_DEVICES` set, "GPU 2" and `cuda:2` are not the same device. The mapping:

1. Every rank runs with `CUDA_DEVICE_ORDER=PCI_BUS_ID`. Without `CUDA_VISIBLE_DEVICES`, CUDA ordinal k is then
   the k-th GPU in PCI bus order: the GPU with NVML index k (by the topology's `pci_bus_id` when known).
2. With `CUDA_VISIBLE_DEVICES`, ordinal k is its k-th entry: a number is a position in PCI bus order (an NVML
   index: CUDA reads numbers that way under PCI_BUS_ID), `GPU-<uuid>` (or a unique prefix of it) the GPU
   with that `uuid` in the topology, `MIG-...` a MIG instance, which takes an ordinal but is never a whole
   GPU. As in CUDA, the list ends at the first entry that names no GPU.
3. A GPU of the plan that is not visible is a BenchError naming it; so is a list tpdoctor cannot read
   without guessing (UUIDs and no topology to match them; numbers under an explicit `CUDA_DEVICE_ORDER`
   other than PCI_BUS_ID; a GPU listed twice; CUDA seeing a different number of devices).
4. Each rank reports the PCI bus id of the device it ran on (`ready` event); `ran_elsewhere` compares those
   with the topology, so a result is never filed under the wrong GPU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tpdoctor.model.errors import BenchError
from tpdoctor.model.topology import Gpu

ORDER_VARIABLE = "CUDA_DEVICE_ORDER"
VISIBLE_VARIABLE = "CUDA_VISIBLE_DEVICES"
PCI_BUS_ID = "PCI_BUS_ID"
_BUS_RE = re.compile(r"^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})(?:\.([0-7]))?$")
_HINT = "unset CUDA_VISIBLE_DEVICES, or list the GPUs to measure in it (numbers as nvidia-smi prints them)"


def bus_key(text: object) -> tuple[int, int, int] | None:
    """(domain, bus, device) of a PCI bus id in any of its spellings (`00000000:18:00.0`, `0000:18:00.0`,
    `18:00.0`); None when it is not one. The function is left out: CUDA does not report it."""
    m = _BUS_RE.match(str(text).strip().lower()) if isinstance(text, str) else None
    return None if m is None else (int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16))


def pci_order(gpus: Sequence[Gpu]) -> tuple[int, ...]:
    """NVML indices in PCI bus order: by the topology's bus ids when every GPU has one, else by index."""
    keys = {g.index: bus_key(g.pci_bus_id) for g in gpus}
    if gpus and all(k is not None for k in keys.values()):
        return tuple(sorted(keys, key=lambda i: (keys[i], i)))
    return tuple(sorted(keys))


def _uuid_match(entry: str, gpus: Sequence[Gpu]) -> int | None:
    found = [g.index for g in gpus if isinstance(g.uuid, str) and g.uuid.lower().startswith(entry.lower())]
    return found[0] if len(found) == 1 else None


def visible_slots(visible: str | None, count: int, gpus: Sequence[Gpu] = (),
                  order: str | None = None) -> tuple[int | None, ...]:
    """The GPU behind each CUDA ordinal, as the NVML index (None: a MIG instance). `visible` and `order` are
    the environment's CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER, `count` the devices CUDA reports, `gpus`
    the topology's GPUs (empty when there is none)."""
    ranked = pci_order(gpus) if gpus else tuple(range(count))
    if visible is None:
        if gpus and len(ranked) != count:
            raise BenchError(f"the topology lists {len(ranked)} GPUs but CUDA sees {count} "
                             f"({VISIBLE_VARIABLE} is not set)",
                             hint="was the topology read on another node, or outside this container?")
        return ranked
    slots: list[int | None] = []
    for entry in (e.strip() for e in visible.split(",")):
        if entry.isdigit():
            if order is not None and order != PCI_BUS_ID:
                raise BenchError(f"{VISIBLE_VARIABLE}={visible!r} numbers GPUs in {ORDER_VARIABLE}={order} "
                                 f"order, which tpdoctor cannot map to nvidia-smi's numbering",
                                 hint=f"use {ORDER_VARIABLE}=PCI_BUS_ID or GPU UUIDs (nvidia-smi -L)")
            n = int(entry)
            slot: int | None = n if not gpus else (ranked[n] if n < len(ranked) else None)
        elif entry.upper().startswith("GPU-"):
            if not any(isinstance(g.uuid, str) for g in gpus):
                raise BenchError(f"{VISIBLE_VARIABLE}={visible!r} names GPUs by UUID; tpdoctor needs the node's "
                                 f"topology to know their indices",
                                 hint="pass --from with this node's scan (tpdoctor scan --json > node.json)")
            slot = _uuid_match(entry, gpus)
        elif entry.upper().startswith("MIG-"):
            slots.append(None)
            continue
        else:
            slot = None
        if slot is None:
            break  # CUDA: an entry that names no device ends the list
        if slot in slots:
            raise BenchError(f"{VISIBLE_VARIABLE}={visible!r} lists GPU{slot} twice", hint=_HINT)
        slots.append(slot)
    if count < len(slots):
        return tuple(slots[:count])  # CUDA stopped earlier (an index past the GPUs it has)
    if count > len(slots):
        raise BenchError(f"CUDA sees {count} devices but tpdoctor reads {len(slots)} in "
                         f"{VISIBLE_VARIABLE}={visible!r}", hint=_HINT)
    return tuple(slots)


def cuda_ordinals(indices: Sequence[int], slots: Sequence[int | None], visible: str | None) -> tuple[int, ...]:
    """The CUDA ordinal of each GPU index; a GPU that is not visible is a BenchError naming it."""
    ordinals = []
    for index in indices:
        if index not in slots:
            why = (f"{VISIBLE_VARIABLE}={visible!r} does not list it" if visible is not None
                   else f"CUDA sees {len(slots)} GPUs")
            if visible is not None and None in slots:
                why += " (a MIG instance is not a whole GPU; the benchmark measures whole GPUs)"
            raise BenchError(f"GPU{index} is not visible to CUDA: {why}", hint=_HINT)
        ordinals.append(slots.index(index))
    return tuple(ordinals)


def map_devices(indices: Sequence[int], env: Mapping[str, str], count: int,
                gpus: Sequence[Gpu] = ()) -> tuple[int, ...]:
    """`cuda_ordinals` for the GPU indices under the environment `env` (os.environ)."""
    visible = env.get(VISIBLE_VARIABLE)
    slots = visible_slots(visible, count, gpus, env.get(ORDER_VARIABLE))
    return cuda_ordinals(indices, slots, visible)


def visible_indices(env: Mapping[str, str], count: int, gpus: Sequence[Gpu] = ()) -> tuple[int, ...]:
    """The NVML indices of the whole GPUs CUDA can see, in index order."""
    slots = visible_slots(env.get(VISIBLE_VARIABLE), count, gpus, env.get(ORDER_VARIABLE))
    return tuple(sorted(s for s in slots if s is not None))


def ran_elsewhere(devices: Sequence[int], reported: Sequence[str | None], gpus: Sequence[Gpu]) -> list[str]:
    """Ranks whose reported PCI bus id is not the topology's for their GPU (`reported` by rank; a bus id
    unknown on either side is no evidence)."""
    bus_ids = {g.index: g.pci_bus_id for g in gpus}
    wrong = []
    for rank, (index, bus) in enumerate(zip(devices, reported)):
        want = bus_ids.get(index)
        if bus_key(want) is not None and bus_key(bus) is not None and bus_key(want) != bus_key(bus):
            wrong.append(f"rank {rank} ran on PCI {bus}, but GPU{index} is PCI {want} in the topology")
    return wrong
