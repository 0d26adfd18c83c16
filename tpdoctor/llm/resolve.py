"""Which model a manifest names, and where its architecture was read: a `Resolution`.

In order (the first that answers wins; each says where it came from in `source`):
1. `--model-config PATH` (a config.json or a model directory): the user said so;
2. the manifest's own path, when it exists here (a directory with config.json, or a .json file);
3. the Hugging Face cache on this machine (`configfile.find_in_cache`), for an `org/name` repo id;
4. the bundled catalogue (`catalogue.py`): the name as written, then without its quantisation suffix
   (`-GPTQ-Int4`, `-FP8` …: `names.py`);
5. not found: `note` says so and names the closest published ids — a near miss is never matched.

A config.json that cannot be read (missing, a device, too big, not JSON) where the manifest points is a note,
and resolution goes on by name; one the user named with `--model-config` is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tpdoctor.llm import catalogue, configfile, names
from tpdoctor.llm.spec import ModelSpec
from tpdoctor.model.errors import TpdError

_SPEC_FIELDS = {f.name for f in fields(ModelSpec)} - {"name", "source", "repo"}
META = {"repos", "aliases", "config", "verified", "note"}  # catalogue fields that are not architecture


@dataclass(frozen=True)
class Resolution:
    ref: str  # the model as the manifest wrote it
    spec: ModelSpec | None
    how: str  # model-config | local-path | hf-cache | catalogue | none
    source: str  # where the architecture came from, in words ("" when nowhere)
    matched: str | None = None  # the catalogue repo id or alias that matched
    name_precision: str | None = None  # weights format the name's suffix implies (fp8, gptq …)
    name_label: str | None = None
    closest: tuple[str, ...] = ()
    note: str | None = None  # not found, a config that could not be read, a re-upload read by its base name
    config_path: str | None = None  # the config.json that was read

    @property
    def found(self) -> bool:
        return self.spec is not None

    @property
    def from_config(self) -> bool:
        """The architecture and quantisation come from a config.json read here."""
        return self.config_path is not None


def spec_of(key: str) -> ModelSpec:
    """The catalogue entry `key` as a ModelSpec (built once per entry: a ModelSpec is immutable)."""
    index = catalogue.index()
    spec = index.built.get(key)
    if not isinstance(spec, ModelSpec):
        spec = index.built[key] = _build_spec(index, key)
    return spec


def _published(key: str, repo: str) -> ModelSpec:
    """The entry as read from the published repo whose config.json it transcribes (built once per pair)."""
    index = catalogue.index()
    spec = index.built.get((key, repo))
    if not isinstance(spec, ModelSpec):
        spec = index.built[(key, repo)] = replace(spec_of(key), source=f"catalogue ({repo}/config.json)")
    return spec


def _build_spec(index: catalogue.Index, key: str) -> ModelSpec:
    raw: dict[str, Any] = index.raw(key)
    unknown = set(raw) - _SPEC_FIELDS - META
    if unknown:
        raise ValueError(f"models.yaml: {key}: unknown fields {sorted(unknown)}")
    repos = [r for item in raw.get("repos", []) for r in catalogue.expand(str(item))]
    spec = ModelSpec(name=key, repo=repos[0] if repos else "", **{k: v for k, v in raw.items() if k in _SPEC_FIELDS})
    where = raw.get("config") or (f"{repos[0]}/config.json" if repos else "")
    if spec.illustrative:
        where = "illustrative, not a published config"
    return replace(spec, source=f"catalogue ({where})" if where else "catalogue")


def lookup(ref: str) -> ModelSpec | None:
    """A catalogue model by repo id, name, alias or key (quantisation suffixes stripped); None otherwise."""
    hint = names.parse(ref)
    for cand in hint.candidates:
        hit = catalogue.index().find(cand)
        if hit is not None:
            return spec_of(hit.key)
    return None


def _local(ref: str, base_dir: Path | None) -> Path | None:
    """The config.json a manifest's model path points to, when that path exists here."""
    if not ref or not (names.is_path(ref) or base_dir is not None):
        return None
    cands = [Path(ref).expanduser()]
    if base_dir is not None and not Path(ref).is_absolute():
        cands.insert(0, base_dir / ref)
    for cand in cands:
        try:
            if cand.is_dir() and (cand / "config.json").exists():
                return cand / "config.json"
            if cand.suffix == ".json" and cand.exists():
                return cand
        except OSError:
            continue
    return None


def _read(path: Path, how: str, what: str, hint: names.NameHint) -> Resolution:
    spec = configfile.load_config(path)
    label = hint.candidates[0].rsplit("/", 1)[-1] if hint.candidates and hint.candidates[0] else ""
    spec = replace(spec, name=label or (path.parent.name if how != "hf-cache" else spec.name))
    return Resolution(hint.ref, spec, how, f"{what} {path}", name_precision=hint.precision,
                      name_label=hint.label, config_path=str(path))


def resolve(ref: str, base_dir: Path | None = None, model_config: str | Path | None = None,
            use_cache: bool = True, env: dict[str, str] | None = None) -> Resolution:
    """See the module docstring. Raises ManifestError only for an unreadable `--model-config`."""
    hint = names.parse(ref or "")
    if model_config is not None:
        return _read(configfile.config_file(model_config), "model-config", "config.json (--model-config)", hint)
    notes: list[str] = []
    local = _local(ref, base_dir) if ref else None
    if local is not None:
        try:
            return _read(local, "local-path", "config.json at the model path", hint)
        except TpdError as exc:
            notes.append(f"{exc.message}; resolved by name instead")
    if use_cache:
        for cand in hint.candidates:
            if cand.count("/") == 1:
                cached = configfile.find_in_cache(cand, env)
                if cached is not None:
                    try:
                        return _read(cached, "hf-cache", "config.json in the Hugging Face cache", hint)
                    except TpdError as exc:
                        notes.append(f"{exc.message}; resolved by name instead")
                        break
    for cand in hint.candidates:
        hit = catalogue.index().find(cand)
        if hit is not None:
            spec = spec_of(hit.key) if hit.how == "alias" else _published(hit.key, hit.matched)
            if hit.how == "name" and "/" in cand and not hint.is_path:  # another org's re-upload
                notes.append(f"{cand} read as {hit.matched} (same name, published config)")
            return Resolution(hint.ref, spec, "catalogue", spec.source, matched=hit.matched,
                              name_precision=hint.precision, name_label=hint.label,
                              note="; ".join(notes) or None)
    base = hint.candidates[-1] if hint.candidates else ref
    close = tuple(catalogue.index().closest(base)) if base else ()
    where = "" if not hint.is_path else f" and no config.json at {ref}"
    text = f"model {ref!r} is not in the catalogue{where}" + (f"; closest: {', '.join(close)}" if close else "")
    notes.insert(0, text)
    return Resolution(hint.ref, None, "none", "", name_precision=hint.precision, name_label=hint.label,
                      closest=close, note="; ".join(notes))
