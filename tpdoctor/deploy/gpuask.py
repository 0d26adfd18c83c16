"""Whether the node's GPU is one the deployment file asks for (`model/gpunames.py`). A file that asks its
scheduler for H200s is never placed on this H100 node: the other findings then judge a placement that will
not happen, and the check says so (TPD217) instead of a verdict about hardware the job will not get."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.engine.schema import Fact, L, S
from tpdoctor.model import gpunames

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment

GPU_ASK_FACTS = {
    "gpu_asked": Fact(L, "GPU models the file asks its scheduler for, any of which will do (SkyPilot "
                         "accelerators, dstack gpu, a nodeSelector or node affinity on nvidia.com/gpu.product "
                         "or cloud.google.com/gke-accelerator), as written.", True),
    "gpu_not_asked": Fact(S, "Why its scheduler would not place it on this node: the GPU models it asks for, none "
                             "of them the node's (family and any memory size written, model/gpunames.py); null "
                             "when it asks for none or the node's GPU is one.", True),
}


def facts(a: Assessment) -> tuple[dict[str, Any], dict[str, str]]:
    """({gpu_asked, gpu_not_asked}, {fact: why it is unknown}): unknown only when the file asks for a GPU
    model and whether the node's is one cannot be told."""
    asked = a.deployment.gpu_asked
    here = gpunames.asked_on(asked, a.gpu_name, a.gpu_memory_mib or None)
    why = None if here is not False else (f"it asks for {' or '.join(asked)}; {a.gpu_name} is none of them"
                                         if len(asked) > 1 else f"it asks for {asked[0]}, not {a.gpu_name}")
    values = {"gpu_asked": list(asked) if asked else None, "gpu_not_asked": why}
    if not asked or here is not None:
        return values, {} if asked else {"gpu_asked": "the file asks for no GPU model"}
    return values, {"gpu_not_asked": "the topology does not name the GPU" if not a.gpu_name
                    else f"cannot tell whether {', '.join(asked)} names {a.gpu_name}"}
