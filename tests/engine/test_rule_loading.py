"""Every kind of broken rule file is refused at load with file, line and reason (never a traceback)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tpdoctor.cli import main
from tpdoctor.model.errors import RuleLoadError
from tpdoctor.report.catalogue import load_catalogue

GOOD = """\
id: SITE100
name: gpu-count-low
scope: node
each: node
severity: warning
summary: Fewer GPUs than the site expects.
when: node.gpu_count < 8
message: "{node.host} shows {node.gpu_count} GPUs"
recommendation: Check `nvidia-smi -L` on {node.host}.
docs:
  why: A GPU that fell off the bus shrinks capacity.
  verify: nvidia-smi -L
  remediation: Reseat the GPU.
  references: []
"""


def write(tmp_path: Path, text: str, name: str = "SITE100.yaml") -> Path:
    d = tmp_path / "site"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d


def refused(tmp_path: Path, text: str, name: str = "SITE100.yaml", builtin: bool = False) -> str:
    d = write(tmp_path, text, name)
    with pytest.raises(RuleLoadError) as info:
        load_catalogue([d], include_builtin=builtin)
    message = str(info.value)
    assert re.match(rf"^{re.escape(str(d / name))}:\d+: ", message), message
    return message


def test_good_site_rule_loads_and_fires(tmp_path: Path) -> None:
    rules = load_catalogue([write(tmp_path, GOOD)])
    assert [r.id for r in rules if not r.builtin] == ["SITE100"]


@pytest.mark.parametrize("text,line,reason", [
    ("id: SITE100\nname: x: y\n", 2, "bad YAML: mapping values are not allowed"),
    (GOOD + "colour: red\n", 15, "unknown field 'colour'"),
    (GOOD.replace("severity: warning\n", ""), 1, "missing field 'severity'"),
    (GOOD.replace("severity: warning", "severity: fatal"), 5, "severity 'fatal' is not one of"),
    (GOOD.replace("scope: node", "scope: cluster"), 3, "scope 'cluster' is not one of"),
    (GOOD.replace("each: node", "each: switch"), 4, "each 'switch' is not a node subject kind"),
    (GOOD.replace("name: gpu-count-low", "name: GpuCountLow"), 2, "not kebab-case"),
    (GOOD.replace("node.gpu_count < 8", "node.gpu_count <"), 7, "does not compile"),
    (GOOD.replace("node.gpu_count < 8", "node.gpus < 8"), 7, "undocumented fact node.gpus"),
    (GOOD.replace("node.gpu_count < 8", "link.nvlinks < 8"), 7, "'link', which is not a fact here"),
    (GOOD.replace("node.gpu_count < 8", "node.gpu_count + 1"), 7, "must be a boolean expression"),
    (GOOD.replace("node.gpu_count < 8", "node.host + 1 == 2"), 7, "fails on well-typed facts"),
    (GOOD.replace("{node.gpu_count} GPUs", "{node.gpus} GPUs"), 8, "undocumented fact {node.gpus}"),
    (GOOD.replace("{node.gpu_count} GPUs", "{node.gpu_count GPUs"), 8, "unbalanced"),
    (GOOD.replace("on {node.host}", "on {link.a}"), 9, "undocumented fact {link.a}"),
    (GOOD.replace("  remediation: Reseat the GPU.\n", ""), 10, "docs: missing field 'remediation'"),
    (GOOD.replace("id: SITE100", "id: site-100"), 1, "is not like TPD123"),
    ("- just\n- a list\n", 1, "must be a YAML mapping"),
])
def test_bad_rule_file(tmp_path: Path, text: str, line: int, reason: str) -> None:
    message = refused(tmp_path, text)
    assert f":{line}: " in message and reason in message, message


def test_id_must_match_file_name(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD, name="SITE101.yaml")
    assert ":1: id SITE100 does not match the file name SITE101.yaml" in message


def test_duplicate_id_with_builtin(tmp_path: Path) -> None:
    text = GOOD.replace("SITE100", "TPD100")
    message = refused(tmp_path, text, name="TPD100.yaml", builtin=True)
    assert "duplicate rule id TPD100" in message and "TPD100.yaml" in message


def test_cli_reports_bad_rules_in_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path, GOOD.replace("node.gpu_count < 8", "node.gpu_count <"))
    assert main(["rules", "--rules", str(d)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"tpdoctor: error: {d / 'SITE100.yaml'}:7: when: does not compile")
    assert "Traceback" not in err


def test_missing_rules_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="not a directory"):
        load_catalogue([tmp_path / "nope"])


def test_scoped_load_skips_other_scopes_but_not_duplicates(tmp_path: Path) -> None:
    node_only = load_catalogue(scopes=("node",))
    assert node_only and {r.scope for r in node_only} == {"node"}
    d = write(tmp_path, GOOD.replace("SITE100", "TPD200").replace("scope: node", "scope: deployment")
              .replace("each: node", "each: deployment").replace("node.gpu_count < 8", "true")
              .replace("{node.host} shows {node.gpu_count} GPUs", "x").replace(" on {node.host}", ""),
              name="TPD200.yaml")
    with pytest.raises(RuleLoadError, match="duplicate rule id TPD200"):
        load_catalogue([d], scopes=("node",))


def test_every_scope_has_its_schema_and_an_unknown_scope_is_an_error() -> None:
    from tpdoctor.engine.schema import SCOPES
    from tpdoctor.report.catalogue import schema_of

    assert [schema_of(s).scope for s in SCOPES] == list(SCOPES)
    with pytest.raises(RuleLoadError, match="no such rule scope: 'cluster'"):
        schema_of("cluster")
