"""The engines' process structure (`data/running.yaml`): titles, worker command lines, launchers, the
environment variables worth reading, and the deployment rules a running group is not judged by.

Loaded once; a broken table is a bug of the package (ValueError naming the entry), never user input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Title:
    pattern: re.Pattern[str]
    engine: str | None
    role: str


@dataclass(frozen=True)
class Worker:
    engine: str | None
    role: str
    script: str | None = None
    module: str | None = None
    code: str | None = None
    tp_env: str | None = None


@dataclass(frozen=True)
class Structure:
    titles: tuple[Title, ...]
    ray_actors: dict[str, str]
    workers: tuple[Worker, ...]
    launchers: frozenset[str]
    env_names: frozenset[str]
    env_prefixes: tuple[str, ...]
    not_applied: dict[str, str]

    def title(self, text: str) -> tuple[Title, re.Match[str]] | None:
        """The title entry a /proc command line of one word matches, and its match (ranks in its groups)."""
        for t in self.titles:
            m = t.pattern.match(text)
            if m:
                return t, m
        return None

    def keeps(self, name: str) -> bool:
        """Whether tpdoctor reads this environment variable (all others are dropped as they are read)."""
        return name in self.env_names or name.startswith(self.env_prefixes)


def _entry(raw: Any, i: int, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise ValueError(f"running.yaml {what}[{i}]: an entry needs a role")
    return raw


@cache
def structure() -> Structure:
    text = resources.files("tpdoctor.data").joinpath("running.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    titles = tuple(Title(re.compile(e["pattern"]), e.get("engine"), e["role"])
                   for e in (_entry(r, i, "titles") for i, r in enumerate(data["titles"])))
    workers = tuple(Worker(engine=e.get("engine"), role=e["role"], script=e.get("script"), module=e.get("module"),
                           code=e.get("code"), tp_env=e.get("tp_env"))
                    for e in (_entry(r, i, "workers") for i, r in enumerate(data["workers"])))
    env = data["env"]
    return Structure(titles=titles, ray_actors=dict(data["ray_actors"]), workers=workers,
                     launchers=frozenset(data["launchers"]), env_names=frozenset(env["names"]),
                     env_prefixes=tuple(env["prefixes"]), not_applied=dict(data["not_applied"]))
