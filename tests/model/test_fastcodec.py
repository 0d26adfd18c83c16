"""The codec's fast pass (`model/fastcodec.py`) builds exactly what the exact pass builds, and refuses nothing the exact
pass accepts: every stored report, and thousands of single-value mutations of them (wrong JSON types, missing
fields, reasons that are not text, numbers where strings go), read with and without the fast pass give the
same value (compared by repr: 1 and 1.0, 1 and True told apart) or the same error."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.factory import cross_node_results, node
from tpdoctor.model import codec, fastcodec
from tpdoctor.model import contract as report_json
from tpdoctor.model.errors import ParseError

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted(p for p in (ROOT / "fixtures").rglob("*.json") if '"schema": "tpdoctor/v1"' in p.read_text())
ODD = [None, "", "x", 0, 1, -1, 2**70, 1.5, float("nan"), True, False, [], [1], {}, {"a": 1}, "not read"]


def _read(data: Any, fast: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    if not fast:
        def undecided(tp: Any) -> Any:
            def convert(data: Any, reason: Any) -> Any:
                raise fastcodec.Doubt
            return convert
        monkeypatch.setattr(fastcodec, "converter", undecided)
    try:
        return repr(report_json.report_from_data(json.loads(json.dumps(data)), "r.json", check=False))
    except ParseError as exc:
        return f"error: {exc.message}"
    finally:
        monkeypatch.undo()


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _mutated(data: Any, rng: random.Random) -> Any:
    copy = json.loads(json.dumps(data))
    path = rng.choice([p for p in _paths(copy) if p])
    parent = copy
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.random() < 0.15:
        del parent[path[-1]]
    elif isinstance(parent, dict) and rng.random() < 0.15:  # a value not read, and why
        parent[path[-1]] = None
        if not isinstance(parent.get("unknown"), dict):
            parent["unknown"] = {}
        parent["unknown"][str(path[-1])] = rng.choice(["no permission", "", "x" * 5])
    elif isinstance(parent, dict) and rng.random() < 0.1:
        parent["unknown"] = {str(path[-1]): rng.choice(ODD)}
    else:
        parent[path[-1]] = rng.choice(ODD)
    return copy


def _corpus() -> list[Any]:
    made = [node("n1"), node("n2", off_switch=(3,)),
            replace(node("n3", n=4), bench=cross_node_results(("n3", "n4"), ranks_per_node=4))]
    texts = [p.read_text() for p in REPORTS] + [report_json.render(r) for r in made]
    return [json.loads(t) for t in texts]


def test_every_stored_report_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus()
    assert len(corpus) > 40
    for data in corpus:
        exact = _read(data, False, monkeypatch)
        monkeypatch.setattr(codec, "_converter", None)  # the fast pass alone: a valid report never needs the other
        assert _read(data, True, monkeypatch) == exact and not exact.startswith("error")


def test_mutations_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(25)
    corpus = [d for d in _corpus() if len(json.dumps(d)) < 200_000]
    errors = 0
    for _ in range(1500):
        data = _mutated(rng.choice(corpus), rng)
        fast = _read(data, True, monkeypatch)
        assert fast == _read(data, False, monkeypatch), data
        errors += fast.startswith("error")
    assert 100 < errors < 1400  # both kinds of outcome were exercised
