"""Regenerate the bundled example node `tpdoctor/examples/h100nvl-gpu01-nvlink-down/` (synthetic).

Writes nvidia-smi outputs byte for byte in the layout real drivers print (tabs in `topo -m` and
`topo -p2p`, a tab and a space before each `Link N:` line). Run from the repository root.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

OUT = Path("tpdoctor/examples/h100nvl-gpu01-nvlink-down")
NAME = "NVIDIA H100 NVL"
UUIDS = [
    "GPU-5d1c3e2a-8f41-4b7e-9c02-6a3f1e7b9d40",
    "GPU-a7e90b14-2c6d-4f83-b15e-0d9c4a2f6e81",
    "GPU-3b8f6d27-e910-47a5-8c3d-f25b7a0e1c96",
    "GPU-c40e2a95-71b8-4d6f-a3e0-9b1f5c8d2a37",
]
BUS_IDS = ["00000000:1B:00.0", "00000000:29:00.0", "00000000:9C:00.0", "00000000:AD:00.0"]
MEMORY_MIB = 95830
# The healthy pair GPU2–GPU3: 12 of 18 links up, as on real H100 NVL/PCIe boards with three bridges
# (inactive link numbers as in the corpus capture nvlink-status/014, plus link 17).
BY_DESIGN_OFF = {4, 9, 10, 15, 16, 17}
LINK_GBPS = "26.562"
AFFINITY = ["0-31,64-95", "0-31,64-95", "32-63,96-127", "32-63,96-127"]
NUMA = [0, 0, 1, 1]

def load_smiq() -> ModuleType:
    """fixtures/smiq.py: the shared `nvidia-smi -q` writer (health sections in driver 535's layout)."""
    spec = importlib.util.spec_from_file_location("smiq", Path("fixtures/smiq.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("smiq", module)
    spec.loader.exec_module(module)
    return module


LEGEND = load_smiq().TOPO_LEGEND  # `topo -m` legend, as nvidia-smi prints it

# `topo -p2p` legend; this driver also prints the regkey row
P2P_LEGEND = load_smiq().P2P_LEGEND.replace("  U    = Unknown", "  DR   = Disabled by regkey\n  U    = Unknown")


def topo_m() -> str:
    # GPU0–GPU1 bridge down: topo -m reports the PCIe path (NODE: same socket, different host bridges).
    gpu = [
        [" X ", "NODE", "SYS", "SYS", "NODE", "SYS"],
        ["NODE", " X ", "SYS", "SYS", "NODE", "SYS"],
        ["SYS", "SYS", " X ", "NV12", "SYS", "NODE"],
        ["SYS", "SYS", "NV12", " X ", "SYS", "NODE"],
    ]
    nic = [
        ["NODE", "NODE", "SYS", "SYS", " X ", "SYS"],
        ["SYS", "SYS", "NODE", "NODE", "SYS", " X "],
    ]
    cols = ["GPU0", "GPU1", "GPU2", "GPU3", "NIC0", "NIC1", "CPU Affinity", "NUMA Affinity", "GPU NUMA ID"]
    lines = ["\t" + "\t".join(cols)]
    for i, row in enumerate(gpu):
        lines.append("\t".join([f"GPU{i}", *row, AFFINITY[i], str(NUMA[i]), "", "N/A"]))
    for i, row in enumerate(nic):
        lines.append("\t".join([f"NIC{i}", *row, "", "", "", ""]))
    nic_legend = "\nNIC Legend:\n\n  NIC0: mlx5_0\n  NIC1: mlx5_1\n\n"
    return "\n".join(lines) + "\n" + LEGEND + nic_legend


def p2p(kind: str) -> str:
    lines = [" \t" + "".join(f"GPU{j}\t" for j in range(4))]
    for i in range(4):
        cells = []
        for j in range(4):
            if i == j:
                cells.append("X")
            elif kind == "n":
                cells.append("OK" if {i, j} == {2, 3} else "NS")
            else:
                cells.append("OK")
        lines.append(f" GPU{i}\t" + "".join(c + "\t" for c in cells))
    return "\n".join(lines) + "\n" + P2P_LEGEND


def header(i: int) -> str:
    return f"GPU {i}: {NAME} (UUID: {UUIDS[i]})"


def up(i: int, link: int) -> bool:
    return i in (2, 3) and link not in BY_DESIGN_OFF


def nvlink_status() -> str:
    out = []
    for i in range(4):
        out.append(header(i))
        for link in range(18):
            out.append(f"\t Link {link}: " + (f"{LINK_GBPS} GB/s" if up(i, link) else "<inactive>"))
    return "\n".join(out) + "\n"


def nvlink_errors() -> str:
    out = []
    for i in range(4):
        out.append(header(i))
        for link in range(18):
            out += [f"\t Link {link}: Replay Errors: 0", f"\t Link {link}: Recovery Errors: 0",
                    f"\t Link {link}: CRC Errors: 0", ""]
    return "\n".join(out) + "\n"


def nvlink_caps() -> str:
    caps = ["P2P is supported", "Access to system memory supported", "P2P atomics supported",
            "System memory atomics supported", "SLI is supported", "Link is supported"]
    out = []
    for i in range(4):
        out.append(header(i))
        for link in range(18):
            out += [f"\t Link {link}, {c}: true" for c in caps]
    return "\n".join(out) + "\n"


def query_gpu() -> str:
    head = ("index, name, uuid, pci.bus_id, memory.total [MiB], pcie.link.gen.current, pcie.link.gen.max, "
            "pcie.link.width.current, pcie.link.width.max")
    rows = [f"{i}, {NAME}, {UUIDS[i]}, {BUS_IDS[i]}, {MEMORY_MIB} MiB, 5, 5, 16, 16" for i in range(4)]
    return "\n".join([head, *rows]) + "\n"


def query_and_mig() -> dict[str, str]:
    """`nvidia-smi -q` (every GPU healthy: the fault is the bridge, not the GPUs) and the MIG query."""
    smiq = load_smiq()
    gpus = [smiq.SmiGpu(bus=BUS_IDS[i], name=NAME, uuid=UUIDS[i], fabric="N/A") for i in range(4)]
    return {"query.txt": smiq.query_text("570.124.06", "12.8", gpus), "mig.csv": smiq.mig_csv(gpus)}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "topo-m.txt": topo_m(),
        "topo-p2p-r.txt": p2p("r"),
        "topo-p2p-w.txt": p2p("w"),
        "topo-p2p-n.txt": p2p("n"),
        "nvlink-status.txt": nvlink_status(),
        "nvlink-errors.txt": nvlink_errors(),
        "nvlink-caps.txt": nvlink_caps(),
        "query-gpu.csv": query_gpu(),
        "host.txt": "gpu01\ncaptured_at: 2026-11-21T12:00:00Z\n",
        **query_and_mig(),
    }
    for name, text in files.items():
        (OUT / name).write_bytes(text.encode())
    print(f"wrote {len(files)} files to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
