"""Whether the engine can load the weights on the group's GPUs at all (`llm/support.py`, from the engines'
support matrices): a reason when it cannot, None when nothing says it cannot, unknown when a limit applies
and the GPU's architecture is not known."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpdoctor.llm import support

if TYPE_CHECKING:
    from tpdoctor.deploy.assess import Assessment

FACT = "weights_unloadable"


def facts(a: Assessment) -> tuple[dict[str, Any], dict[str, str]]:
    """({FACT: reason or None}, {FACT: why it is unknown} when it is)."""
    try:
        why = support.refusal(a.deployment.engine, a.dtype, a.sku.arch if a.sku else None,
                              a.gpu_name or "this GPU")
    except LookupError as exc:
        return {FACT: None}, {FACT: str(exc)}
    return {FACT: why}, {}
