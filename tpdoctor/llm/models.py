"""Model architectures: one import for the catalogue, config.json files and name resolution.

- `ModelSpec` (`spec.py`): the architecture and the checkpoint's own precision;
- `lookup(name)`: a catalogue entry by published repo id, name, alias or key (`catalogue.py`, `names.py`);
- `resolve_model(ref, …)`: the full resolution of a manifest's model — `--model-config`, the manifest's
  path, the Hugging Face cache, the catalogue — as a `Resolution` with its source and notes (`resolve.py`);
- `load_config(path)`, `from_hf_config(dict)`: read a config.json (`configfile.py`, `hfconfig.py`).
"""

from __future__ import annotations

from pathlib import Path

from tpdoctor.llm import catalogue, names
from tpdoctor.llm.configfile import load_config
from tpdoctor.llm.hfconfig import from_hf_config
from tpdoctor.llm.resolve import Resolution, lookup, spec_of
from tpdoctor.llm.resolve import resolve as resolve_model
from tpdoctor.llm.spec import ModelSpec

__all__ = ["ModelSpec", "Resolution", "catalogue_names", "from_hf_config", "load_config", "lookup",
           "quantization_hint", "resolve", "resolve_model", "spec_of"]


def catalogue_names() -> list[str]:
    return sorted(catalogue.index().spans)


def quantization_hint(name: str | None) -> str | None:
    """The weights format a model name's suffix implies (`…-FP8`, `…-GPTQ-Int4`), or None."""
    return names.parse(name).precision if name else None


def resolve(model: str, base_dir: Path | None = None) -> ModelSpec | None:
    """A model reference from a manifest: its spec (config.json where it points, the HF cache, then the
    catalogue), or None. `resolve_model` says where it came from."""
    return resolve_model(model, base_dir).spec
