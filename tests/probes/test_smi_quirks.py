"""Driver and paste quirks as named scenarios, each citing the fixture where it was seen."""

from __future__ import annotations

import textwrap

import pytest

from tests.probes.corpus import SMI, read
from tpdoctor.model.errors import ParseError
from tpdoctor.probes.smi import (
    parse_nvlink_caps,
    parse_nvlink_errors,
    parse_nvlink_status,
    parse_query_gpu,
    parse_topo_m,
    parse_topo_p2p,
)


def topo(name: str) -> str:
    return read(next((SMI / "topo-m").glob(f"{name}*.txt")))


def fixture(kind: str, name: str) -> str:
    return read(next((SMI / kind).glob(f"{name}*.txt")))


# ---- topo -m -------------------------------------------------------------------------------------


def test_crlf_and_ansi_change_nothing() -> None:
    # topo-m/001 (tab/space mix) re-encoded as a Windows paste with colour codes around every cell
    text = topo("001")
    crlf = text.replace("\n", "\r\n").replace("NV12", "\x1b[32mNV12\x1b[0m")
    assert parse_topo_m(crlf).cells == parse_topo_m(text).cells


def test_ansi_underlined_header() -> None:
    # topo-m/040: header wrapped in ESC[4m ... ESC[0m
    m = parse_topo_m(topo("040"))
    assert m.path("GPU0", "GPU1") == "NV4" and m.path("GPU1", "GPU2") == "NODE"


def test_nbsp_from_a_web_paste() -> None:
    # topo-m/004 copied out of a rendered web page: spaces become U+00A0
    text = topo("004")
    assert parse_topo_m(text.replace(" ", "\u00a0")).cells == parse_topo_m(text).cells


def test_old_legend_soc_and_psb() -> None:
    # topo-m/043 (POWER8 Minsky, SOC) and topo-m/034 (K80, SOC legend); PSB is the old PIX
    assert parse_topo_m(topo("043")).path("GPU0", "GPU2") == "SYS"
    k80 = topo("034")
    assert parse_topo_m(k80.replace("PIX", "PSB")).cells == parse_topo_m(k80).cells


def test_blank_nic_nic_cells_below_the_diagonal() -> None:
    # topo-m/005: NIC rows print only the X for NIC-NIC pairs; the blank cells are absent, not shifted
    m = parse_topo_m(topo("005"))
    assert m.cells[("NIC1", "GPU1")] == "PIX" and ("NIC1", "NIC0") not in m.cells
    assert m.cells[("NIC3", "GPU2")] == "NODE"
    assert not m.notes


def test_nic_legend_names() -> None:
    # topo-m/007: "NIC0: mlx5_2" in the NIC Legend
    assert parse_topo_m(topo("007")).nic_names == {0: "mlx5_2"}


def test_device_named_nic_columns_keep_header_order() -> None:
    # topo-m/044: columns mlx5_2 mlx5_0 mlx5_3 mlx5_1 (unsorted, old driver)
    m = parse_topo_m(topo("044"))
    assert m.nic_names == {0: "mlx5_2", 1: "mlx5_0", 2: "mlx5_3", 3: "mlx5_1"}
    assert m.path("GPU0", "NIC1") == "PIX" and m.path("GPU4", "NIC0") == "PIX"


def test_grace_numa_lists_and_gpu_numa_ids() -> None:
    # topo-m/027: GB200 tray, NUMA Affinity "0,3-9,11-17", GPU NUMA ID 2/10/18
    m = parse_topo_m(topo("027"))
    assert m.numa_affinity_text[0] == "0,3-9,11-17" and 0 not in m.numa_affinity
    assert m.gpu_numa_id == {0: 2, 1: 10, 2: 18}
    assert m.cpu_affinity[2] == "72-143"


def test_blank_affinity_cells_are_absent() -> None:
    # topo-m/056: CPU and NUMA Affinity blank (spaces only), GPU NUMA ID N/A
    m = parse_topo_m(topo("056"))
    assert m.cpu_affinity == {} and m.numa_affinity == {} and m.gpu_numa_id == {}


def test_double_tab_affinity_cells() -> None:
    # topo-m/011: "0-7\t\tN/A\t\tN/A"; topo-m/001: "0-23,48-71\t0\t\tN/A"
    assert parse_topo_m(topo("011")).cpu_affinity == {0: "0-7"}
    m = parse_topo_m(topo("001"))
    assert m.numa_affinity[4] == 1 and m.cpu_affinity[4] == "24-47,72-95"


def test_fused_cell_with_ambiguous_prefix_stays_unknown() -> None:
    # topo-m/038 has "PH0-115" (clipped PHB); a clip to "P" could be PIX, PXB or PHB
    m = parse_topo_m(topo("038").replace("PH0-115", "P0-115"))
    assert ("GPU0", "NIC7") not in m.cells and "NIC7 unknown" in m.notes[0]
    assert m.cpu_affinity[0] == "0-115"


def test_headerless_matrix_with_and_without_a_hint() -> None:
    # topo-m/054: header and rows GPU6/GPU7 cut off; 20 path columns
    text = topo("054")
    inferred = parse_topo_m(text)
    assert not inferred.header_present and "no header line" in inferred.notes[0]
    assert parse_topo_m(text, gpu_count=8).cells == inferred.cells
    with pytest.raises(ParseError, match="not a column"):
        parse_topo_m(text, gpu_count=4)  # a wrong hint puts GPU4's X in a NIC column


def test_row_cut_short_at_the_end_of_the_text_is_noted() -> None:
    # topo-m/027 and /028 were cut mid-row by the copy; simulate the cut inside the last row
    text = topo("021")
    cut = text[: text.rindex("GPU7") + 30]
    m = parse_topo_m(cut)
    assert m.path("GPU7", "GPU0") == "NV18" and any("cut short" in n for n in m.notes)


@pytest.mark.parametrize("name", ["025", "028", "044", "007"])
def test_lines_hard_wrapped_at_80_columns(name: str) -> None:
    # e-mail / markdown pastes wrap long lines at whitespace; topo-m/025 (8 GPUs, 10 NICs) has 200-column rows
    text = topo(name)
    wrapped = "\n".join(part for ln in text.split("\n") for part in (textwrap.wrap(ln.expandtabs(8), 80) or [""]))
    assert len(wrapped.split("\n")) > len(text.split("\n"))
    got, want = parse_topo_m(wrapped), parse_topo_m(text)
    assert got.cells == want.cells and got.cpu_affinity == want.cpu_affinity
    assert got.numa_affinity == want.numa_affinity and got.nic_names == want.nic_names
    assert any("wrapped" in n for n in got.notes)


def test_prompts_before_and_after() -> None:
    # topo-m/051 ends with a bare "[root@5900X ~]# "; topo-m/052 starts with a conda prompt
    assert parse_topo_m(topo("051")).path("GPU0", "GPU1") == "NV4"
    assert len(parse_topo_m(topo("052")).gpus) == 8


def test_sixteen_gpus_and_eight_nics() -> None:
    gpus = [f"GPU{i}" for i in range(16)]
    nics = [f"NIC{i}" for i in range(8)]
    cols = gpus + nics
    lines = ["\t" + "\t".join(cols) + "\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID"]
    for r in cols:
        cells = []
        for c in cols:
            if r == c:
                cells.append(" X ")
            elif r.startswith("GPU") and c.startswith("GPU"):
                cells.append("NV18")
            else:
                cells.append("SYS" if (int(r[3:]) < 8) != (int(c[3:]) < 8) else "NODE")
        aff = "\t0-55\t0\t\tN/A" if r.startswith("GPU") else "\t\t\t\t"
        lines.append(r + "\t" + "\t".join(cells) + aff)
    m = parse_topo_m("\n".join(lines) + "\n\nNIC Legend:\n\n  NIC0: mlx5_0\n")
    assert len(m.gpus) == 16 and len(m.nics) == 8 and m.nic_names[0] == "mlx5_0"
    assert sum(1 for (a, b) in m.cells if a.startswith("GPU") and b.startswith("GPU") and a < b) == 120


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("        GPU0    GPU1\nGPU0     X      FOO\nGPU1    FOO      X\n", 2, "got 'FOO'"),
        ("        GPU0    GPU1\nGPU0     X      NV4     SYS\nGPU1    NV4      X\n", 2, "more cells"),
        (
            "        GPU0    GPU1    GPU2\nGPU0  X  NV4  SYS\nGPU1  NV4  X  SYS\nGPU2  PHB  SYS  X\n",
            4,
            "symmetric",
        ),
        ("        GPU0    GPU1\nGPU0     NV4     X\nGPU1    NV4      X\n", 2, "diagonal"),
        ("        GPU0    GPU1\nGPU0     X      NV4\nGPU0    NV4      X\n", 3, "twice"),
        (" \tGPU0\tGPU1\t\n GPU0\tX\tGNS\t\n GPU1\tGNS\tX\t\n", 2, "topo -p2p"),
        ("GPU 0: NVIDIA H100 (UUID: GPU-1)\n  Link 0: 26.562 GB/s\n", 1, "nvlink"),
        ("$ nvidia-smi nvlink -s\nGPU 0: X\n", 1, "nvlink --status"),
        ("lorem ipsum\ndolor\n", 1, "found none"),
    ],
)
def test_text_that_is_not_a_topo_matrix(text: str, line: int, words: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_topo_m(text, source="t.txt")
    assert e.value.line == line and words in str(e.value) and str(e.value).startswith(f"t.txt:{line}:")


def test_multi_section_dump_picks_each_command() -> None:
    # topo-p2p/009: topo -m, -p2p r and -p2p w in one file under "=====" rulers
    text = fixture("topo-p2p", "009")
    assert parse_topo_m(text).path("GPU0", "GPU1") == "PIX"
    assert parse_topo_p2p(text, capability="w").capability == "write"


# ---- topo -p2p -----------------------------------------------------------------------------------


def test_p2p_capability_from_the_echo_and_from_the_caller() -> None:
    # topo-p2p/007 "nvidia-smi topo -p2p p"; topo-p2p/001 has no echo
    assert parse_topo_p2p(fixture("topo-p2p", "007")).capability == "pci"
    assert parse_topo_p2p(fixture("topo-p2p", "001"), capability="rw").capability == "read_write"
    assert parse_topo_p2p(fixture("topo-p2p", "001")).capability == "unknown"


def test_p2p_rejects_codes_it_does_not_know() -> None:
    with pytest.raises(ParseError, match="P2P status"):
        parse_topo_p2p("        GPU0    GPU1\n GPU0   X       NV4\n GPU1   NV4     X\n")
    with pytest.raises(ParseError, match="topo -m"):
        parse_topo_p2p(topo("002"))


# ---- nvlink --------------------------------------------------------------------------------------


def test_all_links_inactive_message() -> None:
    # nvlink-status/016: mixed-case "inActive", one line per GPU; not an error, zero links
    gpus = parse_nvlink_status(fixture("nvlink-status", "016"))
    assert [g.all_inactive for g in gpus] == [True] * 4 and all(not g.links for g in gpus)


def test_inactive_links_and_redacted_uuid() -> None:
    # nvlink-status/004: Link 3 and 5 <inactive>, "UUID: ..." redacted, "...." before the block
    (g,) = parse_nvlink_status(fixture("nvlink-status", "004"))
    assert g.index == 3 and g.uuid is None and g.links[3] is None and g.links[0] == 25.781


def test_status_then_capabilities_pasted_together() -> None:
    # nvlink-caps/006: `nvlink --status -i 0` straight into `nvlink --capabilities -i 0`
    text = fixture("nvlink-caps", "006")
    (status,) = parse_nvlink_status(text)
    (caps,) = parse_nvlink_caps(text)
    assert len(status.links) == 18 and len(caps.links) == 18
    assert any("lines skipped" in n for n in caps.notes) and any("merged" in n for n in caps.notes)


def test_capabilities_without_gpu_line() -> None:
    # nvlink-caps/005: trimmed to bare "Link 0, P2P is supported: true" lines
    (g,) = parse_nvlink_caps(fixture("nvlink-caps", "005"))
    assert not g.header_present and g.index == 0 and g.links[1]["sli"] is True


def test_error_counters_loop_with_separators() -> None:
    # nvlink-errors/004: a shell for-loop with "==========" banners, cut inside link 1
    (g,) = parse_nvlink_errors(fixture("nvlink-errors", "004"))
    assert g.links == {0: {"replay": 0, "recovery": 0, "crc": 0}, 1: {"replay": 0}}


def test_blackwell_style_counter_names() -> None:
    text = (
        "GPU 0: NVIDIA B200 (UUID: GPU-d1b93026-6d5b-03bd-3a71-f85b47a61bde)\n"
        "\t Link 0: Tx0 Effective Errors: 0\n\t Link 0: Symbol Errors: 12\n"
        "\t Link 0: Link Recovery Successful Events: 1\n\t Link 1: Effective BER: N/A\n"
    )
    (g,) = parse_nvlink_errors(text)
    assert g.links[0] == {
        "tx0_effective_errors": 0,
        "symbol_errors": 12,
        "link_recovery_successful_events": 1,
    }
    assert g.links[1] == {} and "not a count" in g.notes[0]


@pytest.mark.parametrize(
    ("parse", "kind", "name", "words"),
    [
        (parse_nvlink_errors, "nvlink-status", "003", "`nvlink --status` lines"),
        (parse_nvlink_status, "nvlink-errors", "002", "output of `nvlink -e`"),
        (parse_nvlink_caps, "nvlink-status", "003", "`nvlink --status` lines"),
        (parse_nvlink_status, "topo-m", "004", "holds the output of `topo -m`"),
    ],
)
def test_nvlink_parsers_reject_another_commands_output(parse: object, kind: str, name: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parse(fixture(kind, name))  # type: ignore[operator]


def test_unknown_line_inside_a_block_names_its_line() -> None:
    text = "GPU 0: NVIDIA A100 (UUID: GPU-fde0a018-ad1a-bbec-ccf6-50a9f64bd178)\n  Link 0: 25 GB/s\n  Lnk 1: ?\n"
    with pytest.raises(ParseError) as e:
        parse_nvlink_status(text, source="s.txt")
    assert e.value.line == 3 and "Link N" in e.value.reason


def test_same_link_with_two_values_is_an_error() -> None:
    text = "GPU 0: A100\n  Link 0: 25 GB/s\n  Link 0: <inactive>\n"
    with pytest.raises(ParseError, match="read twice"):
        parse_nvlink_status(text)


# ---- --query-gpu ---------------------------------------------------------------------------------

HEADER = (
    "index, name, uuid, pci.bus_id, memory.total [MiB], pcie.link.gen.current, pcie.link.gen.max, "
    "pcie.link.width.current, pcie.link.width.max"
)


def test_query_gpu_with_units_and_na() -> None:
    text = HEADER + "\n0, NVIDIA H100 NVL, GPU-1a2b3c4d-aaaa, 00000000:18:00.0, 95830 MiB, 1, 5, 16, [N/A]\n"
    (row,) = parse_query_gpu(text)
    assert row.memory_mib == 95830 and row.pcie_gen_current == 1 and row.pcie_width_max is None


def test_query_gpu_noheader_nounits() -> None:
    rows = parse_query_gpu(
        "0, NVIDIA L4, GPU-aaaa, 00000000:01:00.0, 23034, 4, 4, 16, 16\n1, NVIDIA L4, "
        "[N/A], 00000000:02:00.0, 23034, 4, 4, 8, 16\n"
    )
    assert [r.index for r in rows] == [0, 1] and rows[1].uuid is None and rows[1].pcie_width_current == 8


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEADER + "\n0, A100, GPU-1, 0000:01:00.0, lots, 4, 4, 16, 16\n", "memory.total"),
        (HEADER + "\n0, A100, GPU-1\n", "expected 9"),
        (HEADER + "\n", "without any GPU row"),
        ("Failed to initialize NVML: Driver/library version mismatch\n", "expected 9"),
    ],
)
def test_query_gpu_errors(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parse_query_gpu(text)
