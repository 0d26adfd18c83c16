"""Walk the fixture folders: every raw capture with the `.meta.yaml` provenance beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
SMI = ROOT / "smi"
NCCL_TESTS = ROOT / "nccl-tests"


def captures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.txt"))


def meta(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.with_suffix(".meta.yaml").read_text())
    assert isinstance(data, dict), f"{path}: meta is not a mapping"
    return data


def read(path: Path) -> str:
    # newline="" keeps CRLF as captured; the parsers must handle it themselves
    with path.open(encoding="utf-8", newline="") as f:
        return f.read()
