"""IMEX: the parsers over real `nvidia-imex-ctl` outputs (fixtures/imex/), the capture over a fake runner
(services inactive, masked, not installed), what a collect directory keeps, and the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakeimex import imex_files, imex_runner
from tpdoctor.model.errors import ParseError
from tpdoctor.model.imex import Imex, imex_state
from tpdoctor.probes import imex

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def test_domain_text_18_nodes_up() -> None:
    state, nodes, bad = imex.parse_domain_text((FIX / "imex" / "ctl-N-aws-p6e-gb200-18node-up.txt").read_text(), "x")
    assert state == "UP" and len(nodes) == 18 and bad == ()
    assert nodes[0].host == "172.31.48.81" and nodes[17].version == "570.172"


def test_domain_text_old_build_without_versions() -> None:
    state, nodes, _ = imex.parse_domain_text((FIX / "imex" / "ctl-N-dra-1node-up-old-build.txt").read_text(), "x")
    assert state == "UP" and nodes[0].version is None and nodes[0].status == "READY"


def test_domain_text_reports_cells_that_are_not_connected() -> None:
    text = (FIX / "imex" / "ctl-N-aws-p6e-gb200-18node-up.txt").read_text()
    text = text.replace("       3        C   C   C", "       3        C   N   C").replace("Domain State: UP",
                                                                                      "Domain State: DEGRADED")
    state, _, bad = imex.parse_domain_text(text, "x")
    assert state == "DEGRADED" and bad == ("3→1 N",)


def test_domain_json_degraded() -> None:
    state, nodes, bad = imex.parse_domain_json((FIX / "imex" / "ctl-N-j-dcgm-degraded.json").read_text(), "x")
    assert state == "DEGRADED" and [n.index for n in nodes] == [1, 3] and bad == ()


def test_bad_outputs_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="Domain State"):
        imex.parse_domain_text("Nodes:\n", "x")
    with pytest.raises(ParseError, match="not configured"):
        imex.parse_domain_text("Failed to read node configuration file\n", "x")
    with pytest.raises(ParseError, match="not JSON"):
        imex.parse_domain_json("{", "x")
    with pytest.raises(ParseError, match="one word"):
        imex.parse_word("READY now please\n", "nvidia-imex-ctl -q", "x")


def test_nodes_file_from_config() -> None:
    assert imex.nodes_file("IMEX_NODE_CONFIG_FILE=/opt/imex/nodes.cfg\n") == Path("/opt/imex/nodes.cfg")
    assert imex.nodes_file("# nothing\n") == imex.DEFAULT_NODES
    assert imex.parse_nodes_config("172.27.58.70\n# comment\n\n172.27.58.71\n") == ("172.27.58.70", "172.27.58.71")


def test_capture_from_a_healthy_tray(tmp_path: Path) -> None:
    d = FIX / "collect" / "gb200-tray-healthy"
    texts, notes = imex.capture(imex_runner(d), timeout_seconds=5, read_file=imex_files(d))
    assert len(notes) == 1 and "-N -j` failed" in notes[0]  # an IMEX build without JSON: -N text instead
    assert "imex-ctl-N.txt" in texts and "imex-ctl-N.json" not in texts
    found, parse_notes = imex.imex_from_texts(texts)
    assert parse_notes == [] and found is not None
    assert (found.service, found.enabled, found.daemon, found.domain) == ("active", "enabled", "READY", "UP")
    assert len(found.config_nodes) == 18  # type: ignore[arg-type]
    assert imex_state(found)[0] == "ready"


def test_capture_when_imex_is_not_installed(tmp_path: Path) -> None:
    (tmp_path / "imex-is-active.txt").write_text("inactive\n")
    (tmp_path / "imex-is-enabled.txt").write_text("not-found\n")
    texts, notes = imex.capture(imex_runner(tmp_path), timeout_seconds=5, read_file=imex_files(tmp_path))
    assert texts == {"imex-is-active.txt": "inactive\n", "imex-is-enabled.txt": "not-found\n"}
    assert any("nvidia-imex-ctl -q" in n and "not found" in n for n in notes)
    assert not any("-N -j" in n for n in notes)  # not installed: the other ctl calls are not tried
    found, _ = imex.imex_from_texts(texts)
    assert imex_state(found) == ("off", "service inactive, enabled not-found (nvidia-imex not installed)")


@pytest.mark.parametrize(("record", "state"), [
    (Imex(service="inactive", enabled="masked"), "off"),  # Kubernetes ComputeDomains: IMEX runs in pods
    (Imex(service="failed", enabled="enabled"), "not_ready"),
    (Imex(service="inactive", enabled="enabled"), "not_ready"),
    (Imex(service="active", enabled="enabled", daemon="WAITING_FOR_PEERS", domain="DEGRADED"), "not_ready"),
    (Imex(service="active", enabled="enabled", daemon="READY", domain="UP"), "ready"),
    (Imex(service="active", enabled="enabled"), "unknown"),  # nvidia-imex-ctl not read: cannot say
    (None, "unknown"),
])
def test_imex_state(record: Imex | None, state: str) -> None:
    assert imex_state(record)[0] == state


def test_collect_directory_keeps_the_imex_outputs() -> None:
    """A replayed collect directory carries IMEX in the topology (and so in the tpdoctor/v1 contract)."""
    from tpdoctor.model import contract
    from tpdoctor.model.findings import Report
    from tpdoctor.probes.replay import load

    topo = load(FIX / "collect" / "gb200-tray-imex-degraded")
    assert topo.imex is not None and topo.imex.domain == "DEGRADED"
    data = contract.report_to_data(Report(topology=topo))
    assert data["imex"]["domain"] == "DEGRADED" and data["nvlink_domain"].endswith(".32766")
    assert contract.loads(contract.render(Report(topology=topo))).topology == topo
