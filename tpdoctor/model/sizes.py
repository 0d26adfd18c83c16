"""Message sizes for the sweep: parse `8,1K,1M,64M` or a range `8:1G` (×2 steps; `8:1G:4` for ×4).

Multipliers are binary (K = 1024), as nccl-tests' `-b/-e` read them.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)
MAX_SIZES = 64

DEFAULT_SIZES_GPU = "8:1G"
DEFAULT_SIZES_CPU = "8:16M:8"


def parse_size(text: str) -> int:
    """`64M` -> 67108864. Raises ValueError naming the text."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (use bytes or K/M/G, e.g. 8, 1K, 64M, 1G)")
    value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


def parse_sizes(text: str) -> tuple[int, ...]:
    """A comma list of sizes and ranges (`lo:hi[:factor]`), sorted and deduplicated."""
    out: set[int] = set()
    for token in text.split(","):
        if not token.strip():
            raise ValueError(f"empty size in {text!r}")
        parts = token.split(":")
        if len(parts) == 1:
            out.add(parse_size(parts[0]))
            continue
        if len(parts) > 3:
            raise ValueError(f"a range is lo:hi or lo:hi:factor, got {token!r}")
        lo, hi = parse_size(parts[0]), parse_size(parts[1])
        factor = int(parts[2]) if len(parts) == 3 and parts[2].strip().isdigit() else 2
        if len(parts) == 3 and not parts[2].strip().isdigit():
            raise ValueError(f"range factor must be an integer >= 2, got {parts[2]!r}")
        if factor < 2:
            raise ValueError(f"range factor must be >= 2, got {factor}")
        if hi < lo:
            raise ValueError(f"range {token!r} ends below its start")
        size = lo
        while size <= hi:
            out.add(size)
            size *= factor
    if len(out) > MAX_SIZES:
        raise ValueError(f"{len(out)} sizes is too many (at most {MAX_SIZES})")
    return tuple(sorted(out))


def format_size(nbytes: int) -> str:
    """Shortest exact spelling: 1048576 -> `1M`, 1536 -> `1536`."""
    for unit in ("T", "G", "M", "K"):
        mult = _UNITS[unit]
        if nbytes >= mult and nbytes % mult == 0:
            return f"{nbytes // mult}{unit}"
    return str(nbytes)
