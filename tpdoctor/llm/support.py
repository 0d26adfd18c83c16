"""Can the engine run these weights on this GPU at all? `data/precision_support.yaml`, from the engines' own
support matrices: a pair listed there is judged against the GPU's architecture; anything else is not judged
(no entry means no known refusal, never "supported by default" in a verdict of its own)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Need:
    engine: str
    weights: str
    archs: tuple[str, ...]
    source: str


@lru_cache(maxsize=1)
def table() -> tuple[Need, ...]:
    text = resources.files("tpdoctor.data").joinpath("precision_support.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(Need(str(r["engine"]), str(r["weights"]), tuple(r["archs"]), " ".join(str(r["source"]).split()))
                 for r in yaml.load(text, Loader=loader))  # noqa: S506 - a safe loader


def need(engine: str, weights: str) -> Need | None:
    """The architectures `engine` needs for `weights`, when its support matrix limits them."""
    return next((n for n in table() if n.engine == engine and n.weights == weights), None)


def refusal(engine: str, weights: str, arch: str | None, gpu: str) -> str | None:
    """Why `engine` cannot load `weights` on `gpu` (architecture `arch`), or None when nothing says it cannot.
    Raises LookupError when a limit applies but the architecture is not known (the caller reports it unknown)."""
    n = need(engine, weights)
    if n is None:
        return None
    if arch is None:
        raise LookupError(f"{engine} runs {weights} weights only on {', '.join(n.archs)} GPUs, and the GPU's "
                          "architecture is not known (give --gpu SKU)")
    if arch in n.archs:
        return None
    return (f"{engine} has no {weights} kernel on {gpu} ({arch}): it runs {weights} weights only on "
            f"{', '.join(n.archs)} GPUs ({n.source})")
