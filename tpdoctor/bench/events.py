"""The line protocol between worker ranks and the runner: one JSON object per stdout line after a marker.

Marked lines let the runner ignore anything else a rank prints (NCCL_DEBUG writes to stdout).
Events: `launched` (rank, pid; before the rendezvous), `ready` (rank, pid, pci_bus_id of its GPU or null;
joined), `world` (local rank 0
of each node: every rank's host, node and local rank), `round` (local rank 0, each round), `start` /
`result` (a group's lowest member on each node it spans, per size), `error` (rank, message), `done` (rank).
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "TPDBENCH "


def encode(event: dict[str, Any]) -> str:
    return MARKER + json.dumps(event, separators=(",", ":"))


def decode(line: str) -> dict[str, Any] | None:
    """The event on a marked line; None for any other line (or a marked line cut short by a kill)."""
    if not line.startswith(MARKER):
        return None
    try:
        event = json.loads(line[len(MARKER):])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None
