"""Pause Python's cyclic garbage collector around a bulk load.

Reading thousands of node reports or deployments allocates millions of small objects that all stay alive;
each automatic full collection then walks every one of them, so the collector's cost grows with the heap
and the load stops being linear (measured: 2,000 reports + 10,000 deployments took 2x as long with it on).
Nothing built here forms reference cycles that need the collector, so it is paused for the bulk work and
restored afterwards (to its previous state: nested pauses are fine).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
