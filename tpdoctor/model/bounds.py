"""How big one node's report may be: a report is input from another machine, and its size is work.

A 1,024-GPU report (523,776 GPU pairs) took `scan` 43 s and 1.5 GB to print; nothing real is that big.
The bounds come from real hardware, with room to spare:
- GPUs per node: the largest single nodes today have 16 GPUs (HGX-2 / DGX-2 class: 16 V100 on NVSwitch);
  a GB200 NVL72 rack is 18 nodes of 4 GPUs, each node its own report. 64 is four times the largest node.
- NICs per node: a DGX H100 lists 8 ConnectX-7 ports for compute plus 2 dual-port BlueField-3 (12 RDMA
  devices in `topo -m`); 64 is five times that.
- links: one per pair of devices, so at most (GPUs + NICs) choose 2 (8,128).
- findings: a node's rules judge each link, GPU and port; 50,000 is far above (64 GPUs x 64 ports x a few
  rules plus every pair). Bench results: every GPU pair x 40 sizes (100,000). Probe notes: 1,000.
- strings (host, GPU and NIC names, paths, messages): 4,096 characters; a host name has at most 253
  (DNS; the kernel keeps 64 bytes), NVML's name buffer 96.
A report beyond one of them is refused in one line naming the field, the count and the bound.
"""

from __future__ import annotations

from typing import Any

from tpdoctor.model.errors import ParseError

MAX_GPUS = 64
MAX_NICS = 64
MAX_LINKS = (MAX_GPUS + MAX_NICS) * (MAX_GPUS + MAX_NICS - 1) // 2
MAX_FINDINGS = 50_000
MAX_BENCH = 100_000
MAX_NOTES = 1_000
MAX_STRING = 4_096

COUNTS = {"gpus": (MAX_GPUS, "GPUs in one node report (the largest node today has 16)"),
          "nics": (MAX_NICS, "NICs in one node report"),
          "links": (MAX_LINKS, "links in one node report (one per pair of devices)"),
          "findings": (MAX_FINDINGS, "findings in one report"),
          "bench": (MAX_BENCH, "benchmark results in one report"),
          "probe_notes": (MAX_NOTES, "probe notes in one report")}


def check_counts(data: dict[str, Any], source: str) -> None:
    """ParseError when a list of the report's raw JSON holds more than its bound (before any of it is read)."""
    for key, (limit, what) in COUNTS.items():
        value = data.get(key)
        if isinstance(value, list) and len(value) > limit:
            raise ParseError(f"$.{key}: {len(value):,} {what}; at most {limit:,} are read", source=source)
