"""Each engine's flag table (`data/engine_flags.yaml`) and how its own parser resolves a spelling.

vLLM folds `_` into `-` and accepts unique prefixes; SGLang accepts prefixes but no underscores; TGI (clap)
neither, and reads every option from its UPPER_SNAKE environment variable too; trtllm-serve (click) only
the underscore spellings. `lookup` answers what the engine would do with one spelling: the option, an
unknown flag (skipped), an ambiguous prefix, or a spelling the engine rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: start-up cost


@dataclass(frozen=True)
class Option:
    name: str  # canonical spelling
    names: tuple[str, ...]
    field: str
    type: str  # size | count | hint | frac | float | int | str | strs | bool | tf
    source: str

    @property
    def takes_value(self) -> bool:
        return self.type != "bool"


@dataclass(frozen=True)
class Table:
    engine: str
    prefixes: bool
    underscores: str  # fold (vLLM) | no | only (click) | both (a wrapper: either spelling)
    positional_model: bool
    env: bool  # options also come from UPPER_SNAKE environment variables (TGI)
    options: dict[str, Option]  # every accepted spelling -> option
    long_names: tuple[str, ...]  # every long option the parser has that we know of (ours and others)

    def env_names(self) -> dict[str, Option]:
        """TGI: `NUM_SHARD` -> the --num-shard option (clap derives the variable from the field name)."""
        if not self.env:
            return {}
        return {o.name.lstrip("-").replace("-", "_").upper(): o for o in self.options.values()}


@dataclass(frozen=True)
class Resolved:
    option: Option | None
    status: str  # ok | unknown | ambiguous | rejected
    why: str = ""


@cache
def table(engine: str) -> Table:
    text = resources.files("tpdoctor.data").joinpath("engine_flags.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=_LOADER)[engine]
    options: dict[str, Option] = {}
    for entry in data["options"]:
        names = tuple(entry["names"])
        opt = Option(names[0], names, entry["field"], entry["type"], str(entry["source"]))
        for n in names:
            options[n] = opt
    underscores = data["underscores"]
    if underscores is True:
        underscores = "fold"
    elif underscores is False:
        underscores = "no"
    longs = tuple(sorted({n for n in options if n.startswith("--")} | set(data.get("other") or [])))
    return Table(engine, bool(data["prefixes"]), str(underscores), bool(data["positional_model"]),
                 bool(data.get("env", False)), options, longs)


def _normal(t: Table, name: str) -> str:
    if not name.startswith("--"):
        return name
    if t.underscores == "fold":  # vLLM: only the part before the first "." (dotted JSON keys stay)
        head, dot, tail = name.partition(".")
        return head.replace("_", "-") + dot + tail
    if t.underscores == "both":
        return "--" + name[2:].replace("_", "-")
    return name


def lookup(engine: str, name: str) -> Resolved:
    """What `engine`'s parser does with the option spelled `name` (without `=value`)."""
    t = table(engine)
    key = _normal(t, name)
    if key in t.options:
        return Resolved(t.options[key], "ok")
    if not name.startswith("--"):
        return Resolved(None, "unknown")
    if key in t.long_names:
        return Resolved(None, "unknown")
    other = _other_spelling(t, name)
    if other is not None:
        return Resolved(None, "rejected", f"{name}: {_ENGINE[engine]} accepts only {other.name} (its parser has no "
                                          f"{name}): the engine exits with an error")
    if t.prefixes:
        hits = [n for n in t.long_names if n.startswith(key)]
        if len(hits) == 1:
            return Resolved(t.options.get(hits[0]), "ok" if hits[0] in t.options else "unknown")
        ours = {t.options[h].field: t.options[h] for h in hits if h in t.options}
        if len(hits) > 1 and ours:
            return Resolved(next(iter(ours.values())) if len(ours) == 1 else None, "ambiguous",
                            f"{name} is an ambiguous abbreviation for {_ENGINE[engine]} ({', '.join(hits[:4])}): "
                            "the versions we read exit with an error")
    return Resolved(None, "unknown")


def _other_spelling(t: Table, name: str) -> Option | None:
    """The option a spelling the engine rejects was meant as (`--tp_size` for SGLang, `--tp-size` for trtllm)."""
    if t.underscores in ("fold", "both"):
        return None
    flipped = "--" + (name[2:].replace("-", "_") if t.underscores == "only" else name[2:].replace("_", "-"))
    return t.options.get(flipped) if flipped != name else None


_ENGINE = {"vllm": "vLLM", "sglang": "SGLang", "tgi": "TGI (text-generation-launcher)",
           "trtllm": "trtllm-serve", "wrapper": "the launcher"}


def engine_title(engine: str) -> str:
    return _ENGINE.get(engine, engine)


def flag_for(engine: str, fieldname: str) -> str | None:
    """The canonical long flag that sets `fieldname` for `engine` (for --fix when a value must be added)."""
    try:
        t = table(engine)
    except KeyError:
        return None
    for opt in t.options.values():
        if opt.field == fieldname and opt.name.startswith("--"):
            return opt.name
    return None
