"""Meta-tests that keep the rule catalogue honest (STYLE point 20)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml

from tpdoctor.cli import COMMANDS, cli
from tpdoctor.engine.loader import builtin_rules_dir
from tpdoctor.report.catalogue import current_catalogue, load_catalogue

ROOT = Path(__file__).resolve().parent.parent
RULES = [r for r in load_catalogue() if r.builtin]
CASES = Path(__file__).parent / "rules"


def test_builtin_rules_come_from_the_top_level_folder() -> None:
    assert builtin_rules_dir() == ROOT / "rules"


def test_ids_unique_and_equal_to_file_names() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert r.path.stem == r.id
        assert r.path.parent.name == r.scope  # rules/node/, rules/deployment/
        assert yaml.safe_load(r.path.read_text())["id"] == r.id


def test_node_catalogue_is_complete() -> None:
    assert [r.id for r in RULES if r.scope == "node"] == [f"TPD1{i:02d}" for i in range(14)] + [
        f"TPD12{i}" for i in range(6)] + [f"TPD1{i}" for i in range(30, 44)]
    assert {r.id: r.name for r in RULES if r.scope == "node"} == {
        "TPD100": "nvlink-down", "TPD101": "nvlink-degraded", "TPD102": "nvlink-errors",
        "TPD103": "pcie-link-degraded", "TPD104": "p2p-unavailable", "TPD105": "fabric-not-ready",
        "TPD106": "busbw-below-expected", "TPD107": "topology-drift", "TPD108": "gpu-lost",
        "TPD109": "measurement-failed", "TPD110": "nvlink-fabric-down", "TPD111": "gpu-nvlinks-down",
        "TPD112": "pcie-slot-limited", "TPD113": "bridge-missing-or-down",
        "TPD120": "fabric-unhealthy", "TPD121": "fabric-degraded", "TPD122": "nvlink-domain-missing",
        "TPD123": "nvlink-domain-split", "TPD124": "imex-not-ready",
        "TPD125": "nvlink-not-exposed-to-vm",
        "TPD130": "gpu-missing", "TPD131": "no-gpu-readable", "TPD132": "inforom-corrupted",
        "TPD133": "nvlink-ports-dark", "TPD134": "mig-enabled", "TPD135": "mig-change-pending",
        "TPD136": "row-remap-pending", "TPD137": "row-remap-failed", "TPD138": "ecc-uncorrectable",
        "TPD139": "retired-pages-pending", "TPD140": "gpu-reset-required", "TPD141": "gpu-drain-recommended",
        "TPD142": "gpu-clocks-slowed", "TPD143": "partial-view"}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_has_positive_and_negative_cases(rule) -> None:  # type: ignore[no-untyped-def]
    # node cases in tests/rules/<ID>/, deployment cases in tests/rules_deployment/<ID>/
    names = [p.stem for d in CASES.parent.glob(f"rules*/{rule.id}") for p in d.glob("*.yaml")]
    assert any(n.startswith("positive") for n in names), f"{rule.id}: no positive case"
    assert any(n.startswith("negative") for n in names), f"{rule.id}: no negative case"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_docs_are_complete(rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.docs["remediation"].endswith("."), "remediation ends with a period"
    assert rule.recommendation.source.strip().endswith("."), "recommendation ends with a period"
    assert rule.docs["references"], "at least one reference"
    if rule.scope == "node":  # checked by hand on the node itself
        assert "nvidia-smi" in rule.docs["verify"] or "nccl-tests" in rule.docs["verify"]
    assert not rule.summary.endswith(" ") and rule.summary.endswith(".")
    assert "\n" not in rule.summary


def test_docs_rules_md_is_current() -> None:
    expected = current_catalogue()
    assert "## Facts: scope `node`" in expected and "`link.nvlinks_expected`" in expected
    current = (ROOT / "docs" / "rules.md").read_text()
    assert current == expected, "run: python -m tpdoctor.report.catalogue > docs/rules.md"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    ctx = click.Context(cli)
    cmd = cli.get_command(ctx, name)
    assert cmd is not None and cmd.help and len(cmd.help.strip()) > 20
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
