"""--fix never writes a manifest whose re-check is worse, or still critical for the same reason; what it cannot
fix it says. Checked over every real manifest of the corpus on the broken-NVLink example node and a PCIe node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.check import check
from tpdoctor.deploy.fix import _by_deployment, _worse, fix_text
from tpdoctor.files.read import read_text
from tpdoctor.manifests import loader
from tpdoctor.model.errors import TpdError
from tpdoctor.probes import replay
from tpdoctor.report.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
REAL = sorted(p for p in (ROOT / "fixtures" / "deployments" / "real").iterdir()
              if not p.name.endswith((".meta.yaml", ".md")))
NODES = [replay.example_path(), ROOT / "fixtures" / "topologies" / "rtx4090-pcie-2socket-8.json"]


@pytest.mark.parametrize("node", NODES, ids=lambda p: p.name)
def test_fix_of_every_real_manifest_is_never_worse(node: Path, tmp_path: Path) -> None:
    topology, rules = replay.load(node), load_catalogue()
    fixed_any = 0
    for path in REAL:
        try:
            deps = loader.read(path)
        except TpdError:
            continue
        before = check(deps, topology, rules)
        text = read_text(path)
        new, changes, problems = fix_text(text, before.assessments, topology, rules=rules, source=str(path))
        fixed_any += bool(changes)
        after = _by_deployment(check(loader.read_text(new, str(path)), topology, rules))
        for a, was, now in zip(before.assessments, _by_deployment(before), after):
            if new != text and any(c.startswith(a.name) for c in changes):  # changed: never a new or worse critical
                assert _worse(was, now, set()) is None, (path.name, a.sid)
            left = {f.rule for f in now if f.severity.value == "critical"}
            assert all(any(r in p for p in problems) for r in left), (path.name, left, problems)
    assert fixed_any  # the check is not vacuous: some files were changed


def test_a_tp4_job_on_a_node_whose_every_group_holds_the_broken_pair_is_left_and_said(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("deployments:\n  - {name: l70, model: llama-3.1-70b, dtype: bf16, tp: 4, gpus: [0, 1, 2, 3],"
                    " max_model_len: 8192}\n")
    topology, rules = replay.load(replay.example_path()), load_catalogue()
    before = check(loader.read(path), topology, rules)
    new, changes, problems = fix_text(path.read_text(), before.assessments, topology, rules=rules, source=str(path))
    assert new == path.read_text() and not changes
    assert any("TPD200 tp-on-broken-nvlink remains (critical)" in p for p in problems), problems
