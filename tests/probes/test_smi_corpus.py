"""Every nvidia-smi capture in fixtures/smi parses to what its `.meta.yaml` expects.

Each meta's `expected` block is checked key by key; a key this harness does not know fails the test,
so no expectation is silently skipped. Captures whose meta states its expectation in prose only
(no `expected` block) get the facts that prose states, written out in PROSE below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.probes.corpus import SMI, captures, meta, read
from tpdoctor.model.topology import normalize_path
from tpdoctor.probes.smi import (
    parse_nvlink_caps,
    parse_nvlink_errors,
    parse_nvlink_status,
    parse_topo_m,
    parse_topo_p2p_all,
)
from tpdoctor.probes.smi_types import TopoMatrix

# Facts stated in the `notes` of captures whose meta has no `expected` block.
PROSE: dict[str, dict[str, Any]] = {
    # "12 links at 25 GB/s ... cut the output after GPU 1 Link 1"
    "001-aws-p4d-a100-nvlink-s-author-truncated": {"link_counts": {"0": 12, "1": 2}, "link_gbps": 25},
    # "18 links at 26.562 GB/s ... cut the output after GPU 1 Link 1"
    "002-aws-p5-h100-nvlink-s-author-truncated": {"link_counts": {"0": 18, "1": 2}, "link_gbps": 26.562},
    # "all 8 GPUs, 6 links each at 25.781 GB/s, all active"
    "003-vast-v100-sxm2x8-all-links-25.781": {
        "gpus": 8,
        "links_per_gpu": 6,
        "link_gbps": 25.781,
        "inactive_links": 0,
    },
    # "links 1-16 elided by [...] and a redacted UUID. 26.562 GB/s per link"
    "005-mlengineering-h100-nvlink-status-elided": {
        "gpus": 1,
        "links_shown": [0, 17],
        "link_gbps": 26.562,
        "elided_with": "[...]",
    },
    # "8 links per GPU at 26.562 GB/s ... GPUs 2-6 elided by the author with a bare '...' line"
    "006-llmaction-h800x8-nvlink-status-8links-elided": {
        "gpus_listed": [0, 1, 7],
        "links_per_gpu": 8,
        "link_gbps": 26.562,
        "elided_with": "...",
    },
    # "GPU header lines have NO (UUID: ...) suffix ... GPUs 1-6 replaced by an indented [snip] line"
    "009-microway-dgx1-v100-status-snipped-no-uuid": {
        "gpus_listed": [0, 7],
        "links_per_gpu": 6,
        "uuid_absent": True,
        "elided_with": "[snip]",
    },
    # "per link six capability lines ... GPU 0 and GPU 1 complete (links 0-7), GPUs 2-6 elided,
    # GPU 7 complete"
    "001-llmaction-h800x8-nvlink-capabilities": {
        "gpus_listed": [0, 1, 7],
        "links": 8,
        "capability_lines_per_link": 6,
        "p2p_supported": True,
        "sli_supported": True,
        "link_supported": False,
    },
    # "Old format without UUID ... SLI is supported: false ... Links 1-4 replaced by [snip]"
    "002-microway-dgx1-v100-capabilities-snipped": {
        "gpus": 1,
        "links_shown": [0, 5],
        "uuid_absent": True,
        "sli_supported": False,
        "link_supported": False,
        "p2p_supported": True,
    },
}


def _expected(path: Path) -> dict[str, Any]:
    m = meta(path)
    exp = m.get("expected") or PROSE.get(path.stem)
    assert exp, f"{path.name}: no expected block and no PROSE entry"
    return dict(exp)


def _ids(kind: str) -> list[Path]:
    return captures(SMI / kind)


def _gpu_pairs(m: TopoMatrix) -> set[str]:
    return {
        f"{a[3:]}-{b[3:]}: {p}"
        for (a, b), p in m.cells.items()
        if a.startswith("GPU") and b.startswith("GPU") and int(a[3:]) < int(b[3:])
    }


def _norm_pairs(pairs: list[str]) -> set[str]:
    out = set()
    for s in pairs:
        pair, path = s.split(":")
        out.add(f"{pair.strip()}: {normalize_path(path)}")
    return out


def check_topo_m(m: TopoMatrix, exp: dict[str, Any]) -> None:
    for key, want in exp.items():
        if key == "gpu_count":
            assert len(m.gpus) == want
        elif key == "nic_count":
            assert len(m.nics) == want
        elif key == "gpu_pairs":
            assert _gpu_pairs(m) == _norm_pairs(want)
        elif key == "header_present":
            assert m.header_present is want
        elif key == "rows_present":
            assert list(m.rows_present) == want
        elif key == "degraded_gpu":  # this GPU has no NVLink to any peer while other pairs do
            bad = f"GPU{want}"
            assert not any(p.startswith("NV") for (a, b), p in m.cells.items() if bad in (a, b))
            assert any(p.startswith("NV") for p in m.cells.values())
        elif key == "note":
            assert want == "pairs 6-7 not visible" and m.path("GPU6", "GPU7") is None
        elif key == "gpu_numa":
            assert {str(k): v for k, v in m.numa_affinity.items()} == want
        elif key == "nic_paths":
            label = {name: f"NIC{i}" for i, name in m.nic_names.items()}
            for pair, path in want.items():
                gpu, nic = pair.split("-", 1)
                assert m.path(gpu, label[nic]) == path, pair
        elif key == "gpu_nic7_cell_raw":
            assert any(want in n for n in m.notes)
            assert all(m.cells[(f"GPU{g}", "NIC7")] == "PHB" for g in m.gpus)
            assert all(m.cpu_affinity[g] == "0-115" for g in m.gpus)
        elif key == "notes_for_parser":
            assert "fused" in want  # prose for gpu_nic7_cell_raw, checked there
        else:
            pytest.fail(f"unknown expectation {key!r}")


@pytest.mark.parametrize("path", _ids("topo-m"), ids=lambda p: p.stem)
def test_topo_m(path: Path) -> None:
    check_topo_m(parse_topo_m(read(path), source=path.name), _expected(path))


@pytest.mark.parametrize("path", _ids("topo-p2p"), ids=lambda p: p.stem)
def test_topo_p2p(path: Path) -> None:
    text = read(path)
    mats = parse_topo_p2p_all(text, source=path.name)
    first = mats[0]
    for key, want in _expected(path).items():
        if key == "gpu_count":
            assert all(len(m.gpus) == want for m in mats)
        elif key == "pairs":
            got = {f"{i}-{j}: {c}" for (i, j), c in first.cells.items()}
            assert got == set(want)
        elif key == "all_offdiagonal":
            n = len(first.gpus)
            assert len(first.cells) == n * (n - 1) and set(first.cells.values()) == {want}
        elif key == "sections":
            assert want == ["topo -m", "topo -p2p r", "topo -p2p w"]
            assert [m.capability for m in mats] == ["read", "write"]
            assert len(parse_topo_m(text, source=path.name).gpus) == 8
        elif key in ("p2p_read", "p2p_write"):
            m = next(m for m in mats if m.capability == key[4:])
            assert want == "all OK" and set(m.cells.values()) == {"OK"} and len(m.cells) == 56
        elif key == "topo_m":
            tm = parse_topo_m(text, source=path.name)
            assert len(tm.gpus) == want["gpu_count"] and len(tm.nics) == want["nic_count"]
            # The meta lists "OK" under topo_m.gpu_pairs: those are the P2P statuses of the read and
            # write matrices (topo -m itself shows PIX/NODE/SYS, as in the same dump's header).
            for m in mats:
                assert {f"{i}-{j}: {c}" for (i, j), c in m.cells.items() if i < j} == set(want["gpu_pairs"])
            assert tm.path("GPU0", "GPU1") == "PIX" and tm.path("GPU0", "GPU4") == "SYS"
        else:
            pytest.fail(f"unknown expectation {key!r}")


def _gbps(s: str) -> float | None:
    return None if s == "<inactive>" else float(s.split()[0])


@pytest.mark.parametrize("path", _ids("nvlink-status"), ids=lambda p: p.stem)
def test_nvlink_status(path: Path) -> None:
    gpus = parse_nvlink_status(read(path), source=path.name)
    by = {g.index: g for g in gpus}
    active = [v for g in gpus for v in g.links.values() if v is not None]
    inactive = [(g.index, k) for g in gpus for k, v in g.links.items() if v is None]
    for key, want in _expected(path).items():
        if key == "gpus" and isinstance(want, dict):
            for idx, spec in want.items():
                g = by[int(idx)]
                assert sum(v is not None for v in g.links.values()) == spec["active_links"]
                assert set(g.links.values()) == {_gbps(spec["rate"])}
        elif key in ("gpus", "gpus_listed"):
            assert (len(gpus) == want) if isinstance(want, int) else [g.index for g in gpus] == want
        elif key == "active_links":
            assert len(active) == want
        elif key == "links":
            assert sum(len(g.links) for g in gpus) == want
        elif key == "all_inactive":
            assert all(g.all_inactive for g in gpus) is want
        elif key == "all_inactive_message_count":
            assert sum(g.all_inactive for g in gpus) == want
        elif key in ("links_per_gpu", "gpu0_links"):
            assert all(len(g.links) == want for g in gpus if key == "links_per_gpu" or g.index == 0)
        elif key == "link_counts":
            assert {str(g.index): len(g.links) for g in gpus} == want
        elif key in ("link_gbps", "all_links_gbps", "active_link_gbps"):
            assert set(active) == {float(want)}
        elif key == "inactive_links":
            assert (len(inactive) == want) if isinstance(want, int) else [k for _, k in inactive] == want
        elif key == "links_listed":
            assert sum(len(g.links) for g in gpus) == want
        elif key == "likely_elided_last_link":
            assert want and max(gpus[0].links) == 16
        elif key == "elided_with":
            assert any(repr(want) in n for g in gpus for n in g.notes)
        elif key == "links_shown":
            assert sorted(gpus[0].links) == want
        elif key == "uuid_absent":
            assert all(g.uuid is None for g in gpus)
        elif key == "gpu_links":
            for idx, links in want.items():
                assert {str(k): v for k, v in by[int(idx)].links.items()} == {
                    k: _gbps(v) for k, v in links.items()
                }
        else:
            pytest.fail(f"unknown expectation {key!r}")


def _counter_key(s: str) -> tuple[int, int, str]:
    m = re.match(r"^gpu(\d+)[._]link(\d+)[._](\w+)$", s, re.IGNORECASE)
    assert m, s
    return int(m.group(1)), int(m.group(2)), m.group(3).lower()


@pytest.mark.parametrize("path", _ids("nvlink-errors"), ids=lambda p: p.stem)
def test_nvlink_errors(path: Path) -> None:
    gpus = parse_nvlink_errors(read(path), source=path.name)
    by = {g.index: g for g in gpus}
    nonzero = {
        (g.index, link, name): v for g in gpus for link, cs in g.links.items() for name, v in cs.items() if v
    }
    for key, want in _expected(path).items():
        if key in ("gpus", "gpus_listed"):
            assert (len(gpus) == want) if isinstance(want, int) else [g.index for g in gpus] == want
        elif key == "nonzero":
            assert nonzero == {_counter_key(k): v for k, v in want.items()}
        elif key == "saturated_counter":
            name, value = want.split("=")
            i, link, counter = _counter_key(name)
            assert by[i].links[link][counter] == int(value) == 0xFFFF
        elif key == "unparseable_summary_lines":
            assert sum("summary" in n for g in gpus for n in g.notes) == want
        elif key == "links_per_gpu":
            assert all(len(g.links) == want for g in gpus)
        elif key in ("complete_links", "partial_links"):
            full = sum(len(cs) == 3 for g in gpus for cs in g.links.values())
            part = sum(0 < len(cs) < 3 for g in gpus for cs in g.links.values())
            assert (full if key == "complete_links" else part) == want
        elif key == "nonzero_counters":
            assert len(nonzero) == want
        elif key == "truncated_by_author":
            assert want and len(gpus[0].links[1]) == 1
        elif key == "links_shown":
            assert sorted(gpus[0].links) == want
        elif key == "all_zero":
            assert want and not nonzero and all(len(cs) == 3 for g in gpus for cs in g.links.values())
        else:
            pytest.fail(f"unknown expectation {key!r}")


@pytest.mark.parametrize("path", _ids("nvlink-caps"), ids=lambda p: p.stem)
def test_nvlink_caps(path: Path) -> None:
    text = read(path)
    gpus = parse_nvlink_caps(text, source=path.name)
    caps = [cs for g in gpus for cs in g.links.values()]

    def every(name: str) -> set[bool]:
        return {cs[name] for cs in caps if name in cs}

    for key, want in _expected(path).items():
        if key in ("gpus", "gpus_listed"):
            assert (len(gpus) == want) if isinstance(want, int) else [g.index for g in gpus] == want
        elif key == "links":
            assert all(len(g.links) == want for g in gpus)
        elif key == "capability_lines_per_link":
            assert all(len(cs) == want for cs in caps)
        elif key == "all_true":
            assert want and all(all(cs.values()) for cs in caps)
        elif key == "leading_status_block_links":
            assert len(parse_nvlink_status(text, source=path.name)[0].links) == want
        elif key == "status_link_gbps":
            assert set(parse_nvlink_status(text, source=path.name)[0].links.values()) == {want}
        elif key in ("complete_links", "partial_links"):
            n = sum((len(cs) == 6) == (key == "complete_links") for cs in caps)
            assert n == want
        elif key in ("p2p_supported", "sli_supported", "link_supported", "system_memory_atomics"):
            name = {
                "p2p_supported": "p2p",
                "sli_supported": "sli",
                "link_supported": "link_supported",
                "system_memory_atomics": "sysmem_atomics",
            }[key]
            assert every(name) == {want}
        elif key == "truncated_copy":
            assert want and any(len(cs) < 6 for cs in caps)
        elif key == "gpu_header_present":
            assert all(g.header_present is want for g in gpus)
        elif key == "links_shown":
            assert sorted(gpus[0].links) == want
        elif key == "uuid_absent":
            assert all(g.uuid is None for g in gpus)
        else:
            pytest.fail(f"unknown expectation {key!r}")


def test_every_fixture_has_provenance() -> None:
    for kind in ("topo-m", "topo-p2p", "nvlink-status", "nvlink-errors", "nvlink-caps"):
        paths = _ids(kind)
        assert paths, kind
        for p in paths:
            assert "source_url" in meta(p), p
