"""`tpdoctor health --nfd FILE`: the node-feature-discovery feature file, checked against NFD's documented
format, from the canonical node and from healthy ones; and its labels follow the node's verdict.

The format, as NFD documents and implements it (kubernetes-sigs/node-feature-discovery,
docs/usage/customization-guide.md "Local feature source" / "Input format"; source/local/local.go @a650db05):
every regular file in features.d whose name does not start with "." is read if it is at most 65536 bytes;
lines are trimmed; empty lines are skipped; "#" starts a comment, "# +" a directive (`expiry-time=<RFC 3339>`,
`no-label`, `no-feature`; any other directive is an error); other lines are `<name>[=<value>]`, split on the
first "=". Labels must be Kubernetes labels (customization-guide "Node labels"; k8s apimachinery
IsQualifiedName / IsValidLabelValue): a DNS-subdomain prefix not in kubernetes.io, a name of at most 63
characters `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, a value of at most 63 characters of the same form.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from tests.topologies import gb200_tray, h100_nvl_4gpu, scenario
from tpdoctor.cli import main
from tpdoctor.model.findings import Report, Status
from tpdoctor.model.topology import Topology
from tpdoctor.node.health import run_health
from tpdoctor.probes.replay import example_path
from tpdoctor.report import nfd
from tpdoctor.report.catalogue import load_catalogue

NOW = 1795700000.0  # 2026-11-26T13:33:20Z
ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def parse_feature_file(text: str, name: str, now: datetime) -> dict[str, str]:
    """NFD's local source over one file: the labels it would publish at `now`; AssertionError on anything
    NFD would refuse or log as an error."""
    assert not name.startswith("."), "NFD ignores dot-files"
    assert len(text.encode()) <= 65536, "NFD ignores feature files over 64 KiB"
    labels: dict[str, str] = {}
    expiry: datetime | None = None
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# +"):
                key, sep, value = line[3:].partition("=")
                assert key in ("expiry-time", "no-label", "no-feature"), f"unknown directive {line!r}"
                if key == "expiry-time":
                    assert sep, line
                    expiry = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                    assert expiry.tzinfo is not None, "RFC 3339 needs a zone"
            continue
        if expiry is not None and expiry < now:
            continue
        key, sep, value = line.partition("=")
        value = value if sep else "true"
        prefix, slash, label = key.rpartition("/")
        assert slash, f"{key}: NFD wants <namespace>/<name> (unprefixed names are deprecated)"
        assert _PREFIX.match(prefix) and len(prefix) <= 253, f"{key}: prefix is not a DNS subdomain"
        assert prefix != "kubernetes.io" and not prefix.endswith(".kubernetes.io"), f"{key}: denied namespace"
        assert len(label) <= 63 and _NAME.match(label), f"{key}: not a label name"
        assert len(value) <= 63 and _VALUE.match(value), f"{key}={value}: not a label value"
        labels[key] = value
    return labels


def health_labels(topology: Topology) -> tuple[int, dict[str, str], str]:
    """Run the health check on a node and parse the feature file it would write."""
    outcome = run_health(lambda: Report(topology=topology), load_catalogue())
    text = nfd.render(outcome.report, outcome.raw_status, now=NOW)
    return int(outcome.status.exit_code), parse_feature_file(
        text, "tpdoctor", datetime.fromtimestamp(NOW, timezone.utc)), text


def test_canonical_node_feature_file_via_the_cli(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "features.d" / "tpdoctor"
    out.parent.mkdir()  # tpdoctor creates no directories (docs/health.md); NFD's hostPath exists
    rc = main(["health", "--from", str(example_path()), "--nfd", str(out)])
    capsys.readouterr()
    assert rc == 2
    text = out.read_text()
    assert [p.name for p in out.parent.iterdir()] == ["tpdoctor"]  # written by rename: no temp file left
    got = parse_feature_file(text, out.name, datetime.now(timezone.utc))
    assert got == {"tpdoctor.io/status": "critical", "tpdoctor.io/nvlink.healthy-group": "2",
                   "tpdoctor.io/nvlink.links-down": "1", "tpdoctor.io/gpus.broken": "0",
                   "tpdoctor.io/nvlink.fabric": "none", "tpdoctor.io/checked": got["tpdoctor.io/checked"]}
    assert re.search(r"^# \+expiry-time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text, re.M)


def test_healthy_gb200_tray_feature_file_names_its_nvlink_domain(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tpdoctor"
    rc = main(["health", "--from", str(ROOT / "fixtures" / "collect" / "gb200-tray-healthy"), "--nfd", str(out)])
    capsys.readouterr()
    assert rc == 0
    got = parse_feature_file(out.read_text(), out.name, datetime.now(timezone.utc))
    assert {k: v for k, v in got.items() if k != "tpdoctor.io/checked"} == {
        "tpdoctor.io/status": "ok", "tpdoctor.io/nvlink.healthy-group": "4", "tpdoctor.io/nvlink.links-down": "0",
        "tpdoctor.io/gpus.broken": "0", "tpdoctor.io/nvlink.fabric": "ok", "tpdoctor.io/imex": "ready",
        "tpdoctor.io/nvlink.domain": "3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766"}


def test_labels_follow_the_verdict() -> None:
    """The same node before and after a fault: the labels a pod selects on change with the verdict."""
    _, healthy, _ = health_labels(scenario("h100-nvl-healthy"))
    _, broken, _ = health_labels(scenario("h100-nvl-gpu01-down"))
    assert (healthy["tpdoctor.io/status"], broken["tpdoctor.io/status"]) == ("ok", "critical")
    assert (healthy["tpdoctor.io/nvlink.links-down"], broken["tpdoctor.io/nvlink.links-down"]) == ("0", "1")
    _, tray_ok, _ = health_labels(gb200_tray())
    _, tray_bad, _ = health_labels(gb200_tray({2: {"route_unhealthy": True, "health": "unhealthy"}}))
    assert tray_ok["tpdoctor.io/nvlink.healthy-group"] == "4" and tray_bad["tpdoctor.io/nvlink.healthy-group"] == "3"
    assert (tray_ok["tpdoctor.io/gpus.broken"], tray_bad["tpdoctor.io/gpus.broken"]) == ("0", "1")
    assert tray_bad["tpdoctor.io/gpus.broken-ids"] == "2" and "tpdoctor.io/gpus.broken-ids" not in tray_ok
    assert (tray_ok["tpdoctor.io/nvlink.fabric"], tray_bad["tpdoctor.io/nvlink.fabric"]) == ("ok", "unhealthy")
    _, no_pair, _ = health_labels(h100_nvl_4gpu(down=[(0, 1), (2, 3)]))
    assert no_pair["tpdoctor.io/nvlink.healthy-group"] == "1"  # no healthy pair left: `Gt 1` keeps TP=2 off


def test_probe_failure_leaves_only_status_and_time() -> None:
    text = nfd.render(None, Status.UNKNOWN, now=NOW)
    got = parse_feature_file(text, "tpdoctor", datetime.fromtimestamp(NOW, timezone.utc))
    assert got == {"tpdoctor.io/status": "unknown", "tpdoctor.io/checked": str(int(NOW))}


def test_labels_expire_when_tpdoctor_stops() -> None:
    _, _, text = health_labels(scenario("h100-nvl-healthy"))
    later = datetime.fromtimestamp(NOW + nfd.DEFAULT_EXPIRY_SECONDS + 1, timezone.utc)
    assert parse_feature_file(text, "tpdoctor", later) == {}


def test_an_invalid_value_is_left_out_with_a_comment() -> None:
    assert nfd.valid_value("3482beb4-a3cd-48a4-9b6c-a6ba43bc59a4.32766")
    assert not nfd.valid_value("a b") and not nfd.valid_value("-x") and not nfd.valid_value("x" * 64)
    topo = gb200_tray()
    weird = replace(topo, nvlink_domain="not a valid/label value")
    text = nfd.render(Report(topology=weird), Status.OK, now=NOW)
    assert "# tpdoctor.io/nvlink.domain left out" in text
    parse_feature_file(text, "tpdoctor", datetime.fromtimestamp(NOW, timezone.utc))
