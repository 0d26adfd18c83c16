"""A click option type for a bounded, finite number (model/settings.py): `--timeout inf`, `nan` or `-1` is
one line (`tpdoctor: error: --timeout 'inf': not a finite number of seconds (0.1 to 600 seconds)`), exit 3."""

from __future__ import annotations

from typing import Any

import click

from tpdoctor.model.settings import Bounds, number


class Bounded(click.ParamType):
    name = "number"

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.name = bounds.unit.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        name = param.opts[0] if param is not None and param.opts else "value"
        return number(value, name, self.bounds)  # a SettingError is the CLI's one-line error
