"""Every model named in the real corpora resolves to an architecture, or is listed with the reason it cannot
(an opaque local directory, a fine-tune, a near miss of a published name) and then comes back "not found" with
a note — never a silent match. The corpora are read generically, so files added later are covered too."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tpdoctor.llm import models

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "models" / "corpus"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_coverage", ROOT / "scripts" / "model_coverage.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


COVERAGE = _script()
NAMES = list(dict.fromkeys([*COVERAGE.real_names(), *COVERAGE.listed("dev.yaml"), *COVERAGE.listed("heldout.yaml")]))
UNRESOLVED: dict[str, dict[str, str]] = yaml.safe_load((CORPUS / "unresolved.yaml").read_text(encoding="utf-8"))


def test_the_corpora_are_wide() -> None:
    assert len(NAMES) >= 60, len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_corpus_model_resolves_or_is_explained(name: str) -> None:
    res = models.resolve_model(name, use_cache=False)
    if name in UNRESOLVED:
        assert res.spec is None and res.note and "not in the catalogue" in res.note, (name, res)
        if UNRESOLVED[name]["why"] == "near-miss":
            assert res.closest, name
    else:
        assert res.found, f"{name}: {res.note}"
        assert res.source.startswith("catalogue"), res.source


def test_no_stale_exception() -> None:
    assert set(UNRESOLVED) <= set(NAMES), set(UNRESOLVED) - set(NAMES)
    assert {v["why"] for v in UNRESOLVED.values()} <= {"local-opaque", "fine-tune", "near-miss", "not-catalogued"}
