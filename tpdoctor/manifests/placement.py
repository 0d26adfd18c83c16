"""Which GPUs a launch gets, by the rules of what starts it: a host index or a container index, named or chosen.

First the set the runtime makes visible, then `CUDA_VISIBLE_DEVICES` inside it; the engine takes the first
TP × PP GPUs it sees (vLLM's, SGLang's and TensorRT-LLM's ranks use devices 0…n-1; TGI one shard per visible GPU):

| runtime | visible set | placement |
|---|---|---|
| a shell on the host | every GPU of the node (`CUDA_VISIBLE_DEVICES` names host GPUs) | all / pinned |
| `docker run --gpus all` | every host GPU, same numbering | all |
| `docker run --gpus '"device=1,2"'`, compose `device_ids` | those host GPUs, renumbered 0… inside | pinned |
| `docker run --gpus 2`, compose `count: 2` | host GPUs 0…N-1 (moby countToDevices) | pinned |
| compose `count: all` or `gpus: all` | every host GPU | all |
| compose `runtime: nvidia` + `NVIDIA_VISIBLE_DEVICES` | the GPUs it names (the container runtime reads it) | pinned |
| `nvidia.com/gpu: N`, Slurm `--gres`, Ray, SkyPilot, dstack | N GPUs the scheduler picks | scheduler |
| a Dockerfile | decided by `docker run` flags the file cannot show | unknown |

A variable exported on the host does not reach a container (`export CUDA_VISIBLE_DEVICES=0` before `docker
run --gpus all` leaves TGI sharding over all GPUs): only `-e`/`environment` does (script.py keeps them apart).
`countToDevices` is in moby's daemon/devices_nvidia_linux.go.
Inside a container, `CUDA_VISIBLE_DEVICES` indexes what the container was given: with named host GPUs it maps
onto them (device_ids [1, 2] + CUDA_VISIBLE_DEVICES=1 is host GPU2); with a scheduler's set it stays a
container index (`gpu_scope: container`), never a host GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.model.deployment import Origin, parse_gpu_list
from tpdoctor.model.errors import ManifestError

SCHEDULED = ("kubernetes", "slurm", "ray", "skypilot", "dstack")


@dataclass(frozen=True)
class Visible:
    """What the runtime makes visible: every host GPU, named host GPUs, N chosen by a scheduler, or unknown."""

    kind: str  # all | pinned | scheduler | unknown
    gpus: tuple[int, ...] | None = None  # host GPUs (pinned)
    uuids: tuple[str, ...] = ()
    count: int | None = None  # scheduler's N (or pinned length)
    origin: Origin | None = None
    container: bool = False  # indices inside it are container indices


@dataclass(frozen=True)
class Placed:
    gpus: tuple[int, ...] | None
    uuids: tuple[str, ...]
    origin: Origin | None
    count: int | None
    placement: str
    scope: str | None


def count_devices(n: int) -> tuple[int, ...]:
    """Docker's device request `count: N`: host GPUs 0…N-1 (moby countToDevices)."""
    return tuple(range(n))


def place(visible: Visible, cvd: str | None, cvd_origin: Origin | None, notes: list[str]) -> Placed:
    """The GPUs the engine sees: `cvd` (CUDA_VISIBLE_DEVICES as the engine sees it) inside `visible`."""
    if cvd is None:
        if visible.kind == "pinned":
            return Placed(visible.gpus, visible.uuids, visible.origin, visible.count, "pinned", "host")
        if visible.kind == "scheduler":
            return Placed(None, (), visible.origin, visible.count, "scheduler", None)
        return Placed(None, (), visible.origin, visible.count, visible.kind, None)
    gpus, uuids, why = parse_gpu_list(cvd)
    if why == "no GPUs":
        return Placed((), (), cvd_origin, 0, "pinned", "host")
    if why and why != "all GPUs":
        notes.append(f"CUDA_VISIBLE_DEVICES={cvd}: {why}")
    if gpus is None and not uuids:  # `all` or unreadable: the visible set stands
        return place(visible, None, None, notes)
    if uuids:
        return Placed(None, uuids, cvd_origin, len(uuids), "pinned", "host")
    assert gpus is not None
    if visible.kind == "pinned" and visible.gpus is not None and visible.container:
        inside = visible.gpus
        missing = [i for i in gpus if i >= len(inside)]
        if missing:
            notes.append(f"CUDA_VISIBLE_DEVICES={cvd} inside a container given {len(inside)} GPU(s) "
                         f"({'+'.join(f'GPU{i}' for i in inside)}): container GPU {missing[0]} does not exist, so "
                         "the engine sees fewer GPUs than it names")
        host = tuple(inside[i] for i in gpus if i < len(inside))
        return Placed(host, (), cvd_origin, len(host), "pinned", "host")
    if visible.kind == "scheduler":
        notes.append(f"CUDA_VISIBLE_DEVICES={cvd} selects among the {visible.count or 'N'} GPU(s) the scheduler "
                     "hands out: container indices, not host GPUs")
        count = visible.count if visible.count is not None else len(gpus)
        if visible.count is not None and any(i >= visible.count for i in gpus):
            # CUDA stops at the first index that does not exist: the engine sees only those before it
            seen = next((n for n, i in enumerate(gpus) if i >= visible.count), len(gpus))
            notes.append(f"CUDA_VISIBLE_DEVICES={cvd} names container GPU {gpus[seen]}, but it is handed "
                         f"{visible.count} (0…{visible.count - 1}): the engine sees {seen} GPU(s)")
            count = min(count, seen)
        return Placed(gpus, (), cvd_origin, count, "scheduler", "container")
    if visible.kind == "unknown" and visible.container:
        return Placed(gpus, (), cvd_origin, len(gpus), "unknown", "container")
    return Placed(gpus, (), cvd_origin, len(gpus), "pinned", "host")


def docker_visible(spec: str | None, origin: Origin | None, unresolved: tuple[str, ...] = ()) -> Visible:
    """`docker run --gpus SPEC` (None: no --gpus, the container sees no GPU unless nvidia is the default runtime;
    a `device=` list from an unset variable: pinned to host GPUs this file does not name)."""
    from tpdoctor.manifests.launch import gpu_request

    if spec is None:
        return Visible("unknown", container=True)
    if unresolved:
        return Visible("pinned" if "device=" in spec else "unknown", origin=origin, container=True)
    t = spec.strip().strip("'\"").strip().lower()
    if t in ("all", "") or "count=all" in t:
        return Visible("all", origin=origin, container=True)
    gpus, count, why = gpu_request(spec)
    if gpus:
        return Visible("pinned", gpus, count=len(gpus), origin=origin, container=True)
    if count is not None:
        return Visible("pinned", count_devices(count), count=count, origin=origin, container=True)
    return Visible("unknown", origin=origin, container=True)


def compose_visible(ids: str | None, count: int | None, everything: bool, nvd: str | None, origin: Origin | None,
                    where: str) -> Visible:
    """compose `device_ids`, `count` (N or all), `gpus: all`, or `runtime: nvidia` with NVIDIA_VISIBLE_DEVICES."""
    if ids is not None:
        gpus, uuids, why = parse_gpu_list(ids)
        if why and why != "all GPUs":
            raise ManifestError(f"{where}: device_ids: {why}")
        if gpus is not None or uuids:
            return Visible("pinned", gpus, uuids, len(gpus or uuids), origin, container=True)
    if count is not None:
        return Visible("pinned", count_devices(count), count=count, origin=origin, container=True)
    if everything:
        return Visible("all", origin=origin, container=True)
    if nvd is not None:
        gpus, uuids, why = parse_gpu_list(nvd)
        if why == "all GPUs":
            return Visible("all", origin=origin, container=True)
        if gpus is not None or uuids:
            return Visible("pinned", gpus, uuids, len(gpus or uuids), origin, container=True)
    return Visible("unknown", container=True)
