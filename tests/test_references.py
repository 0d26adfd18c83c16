"""Every reference a user can see points to a file in this repository or to a public URL: the rule files'
`references` and docs (what `tpdoctor explain`, `docs/rules.md` and SARIF's fullDescription show), the
README and docs/. A `file.md#anchor` names a heading of that file, a `file.md §1b` a numbered section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((ROOT / "rules").glob("*/*.yaml"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the project's internal notes: not shipped, so never cited to a user
PRIVATE = re.compile(r"(?<![\w/])(DESIGN\.md|DESIGN §|nvml-reference|landscape\.md|STYLE\.md)|(?<![\w/])figures\.md")
TOP = "docs|deploy|schemas|tpdoctor|rules|fixtures|benchmarks|scripts|tests"
FILE_REF = re.compile(rf"(?<![\w/.:-])((?:{TOP})/(?:[\w.-]+/)*[\w-]+(?:\.\w+)?|README\.md|LICENSE)(#[\w-]+)?"
                      r"(?:\s+§(\w+))?")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def problems(text: str, base: Path, every_path: bool = False) -> list[str]:
    """What does not resolve: private notes, our `docs/*.md` pages (with anchors and § sections), and with
    `every_path` any repository path (prose elsewhere names schema ids like tpdoctor/v1 and paths of other
    projects, so those are checked only where a rule cites them)."""
    out = [f"cites the project's private notes: {m.group(0)!r}" for m in PRIVATE.finditer(text)]
    for m in FILE_REF.finditer(text):
        name, anchor, section = m.group(1), m.group(2), m.group(3)
        if not every_path and not re.fullmatch(r"docs/[\w-]+\.md|README\.md|schemas/[\w./-]+\.json", name):
            continue
        candidates = [ROOT / name, ROOT / "tpdoctor" / name]  # package-relative in code docs: deploy/facts.py
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            out.append(f"{name}: no such file in the repository")
            continue
        if path.is_dir() or path.suffix != ".md":
            continue
        headings = [h.lstrip("#").strip() for h in path.read_text().splitlines() if h.startswith("#")]
        if anchor and anchor[1:] not in {slug(h) for h in headings}:
            out.append(f"{name}{anchor}: no such heading")
        if section and not any(re.match(rf"{re.escape(section)}[.\s]", h) for h in headings):
            out.append(f"{name} §{section}: no such section")
    return out


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_references_resolve(path: Path) -> None:
    rule = yaml.safe_load(path.read_text())
    refs = rule["docs"].get("references") or []
    for ref in refs:
        assert re.match(r"https://\S+", ref) or FILE_REF.match(ref), f"{ref!r}: neither a URL nor a repository file"
    assert not problems("\n".join(refs), ROOT, every_path=True), problems("\n".join(refs), ROOT, every_path=True)
    text = "\n".join([*(str(v) for k, v in rule["docs"].items() if k != "references"),
                      str(rule.get("recommendation", "")), str(rule.get("summary", ""))])
    assert not problems(text, ROOT), problems(text, ROOT)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_references_resolve(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # shell examples name files of the user's
    assert not problems(text, path.parent), problems(text, path.parent)


def test_explain_and_sarif_carry_only_resolvable_references() -> None:
    from tpdoctor.report.catalogue import load_catalogue, rule_markdown

    for rule in load_catalogue():
        text = rule_markdown(rule)
        assert not problems(text, ROOT), (rule.id, problems(text, ROOT))
