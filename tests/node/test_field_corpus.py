"""The field corpus (fixtures/field/): real nvidia-smi outputs of failing nodes, each composed into a node the
fake nvidia-smi replays and judged by `tpdoctor health --probe smi` in process (scripts/field_corpus.py scores
the same runs in subprocesses, and against another checkout). Only the development part is asserted here: the
held-out part is scored by the script and reported (fixtures/field/SPLIT.md, docs/health.md)."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import field_corpus  # noqa: E402

from tpdoctor.cli import main  # noqa: E402

DEV = field_corpus.runs("dev")


def in_process(monkeypatch: pytest.MonkeyPatch) -> field_corpus.Tpdoctor:
    def call(args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
        with monkeypatch.context() as m:
            for key in ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "FAKESMI_MODE", "FAKESMI_MATCH"):
                m.delenv(key, raising=False)
            for key, value in env.items():
                m.setenv(key, value)
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main(args)
        return code, out.getvalue(), err.getvalue()
    return call


def test_the_split_is_by_family_and_about_a_third() -> None:
    every = field_corpus.runs("all")
    held = [r for r in every if r.part == "held-out"]
    assert {r.spec["family"] for r in held}.isdisjoint({r.spec["family"] for r in DEV})
    assert 0.25 <= len(held) / len(every) <= 0.4 and len(every) >= 20
    split = (ROOT / "fixtures/field/SPLIT.md").read_text(encoding="utf-8")
    for r in every:
        assert f"| {r.spec['family']} | {'held-out' if r.part == 'held-out' else 'development'} |" in split


@pytest.mark.parametrize("run", DEV, ids=lambda r: r.ident)
def test_development_case(run: field_corpus.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    score = field_corpus.score(run, field_corpus.check(run, in_process(monkeypatch), tmp_path))
    assert score.ok, f"{run.ident}: {score.status}; {'; '.join(score.problems)}; {score.summary}"


def test_every_case_names_its_source_and_quotes_files_that_exist() -> None:
    for run in field_corpus.runs("all"):
        spec = run.spec
        assert spec["source"] and spec["quoted"] and spec["shows"], run.ident
        comp = spec.get("compose") or {}
        files = [h.get(k) for h in (comp.get("files") or {}).values() for k in ("from", "append", "sections", "blocks")]
        files += [comp["all"]["from"]] if "all" in comp else []
        for name in filter(None, files):
            assert (run.case / name).is_file(), f"{run.ident}: {name}"
        ctx = comp.get("context")
        assert ctx is None or (field_corpus.CONTEXTS / ctx / "topo-m.txt").is_file(), ctx


def test_the_failure_mode_matrix_has_a_row_per_run() -> None:
    text = (ROOT / "docs/health.md").read_text(encoding="utf-8").split("## Failure-mode matrix", 1)[1]
    rows = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("| f")]
    assert len(rows) == len(field_corpus.runs("all")) >= 20
