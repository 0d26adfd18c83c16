"""The one-line-per-deployment fast path (`manifests/flowlist.py`) reads exactly what the composer reads.

Differential: random job files in and around the shape it takes (plain and quoted scalars of every YAML 1.1
type, flow lists, comments, odd spacing, duplicate keys, keys that collide as `1`/`true`) are read by
`flowlist.documents` and by `yamlsrc.load_documents`; where the fast path answers, data, every span (in
order), the lines and the document index are the same; where it declines, the general reader decides.
"""

from __future__ import annotations

import random

import pytest

from tpdoctor.manifests import flowlist, loader, yamlsrc
from tpdoctor.model.errors import TpdError

GOOD = ["a", "tp", "2", "08", "0x1F", "1e3", "1.5", ".5", "+1", "null", "true", "yes", "Off", "2001-12-14", "1_000",
        "0o17", ".inf", ".NaN", "gpu-node-00001", "llama-3.1-8b", "/models/x", "a/b", "x_y", '"a b"', "'c, d'", '""',
        "''", '"#x"', "99999999999999999999", "[0, 1]", "[]", "[ 1 ,2 ]", "[\"0\", '1']", "[a]"]
ODD = ["-1", "~", "'it''s'", '"q\\"x"', "a b", "=", "<<", "a#b", "a #b", "é", "1:2", "-", "[a, ]", "[[1]]", "{x: 1}",
       "!!str 3", "&a x", "*a", "|", "?", "%", "@x", "`x", "2001-12-14t21:59:43.10-05:00", "a\tb"]
KEYS = ["name", "tp", "gpus", "model", "1", "true", "null", '"k"', "'q'", "a-b"]


def _entry(rng: random.Random, good: bool) -> str:
    pairs = []
    for _ in range(rng.randint(1, 5)):
        odd = not good and rng.random() < 0.2
        key = rng.choice(KEYS + (["k k", "?", "[a]"] if odd else []))
        value = rng.choice(ODD if odd else GOOD)
        pairs.append(f"{key}{rng.choice([': '] * 8 + [':  '] + ([':', ' : '] if odd else []))}{value}")
    body = rng.choice([", ", ",", " ,", ",  "]).join(pairs)
    tail = rng.choice(["", " ", " # c", "#c", "  # é", "  # ok"]) if rng.random() < 0.2 else ""
    dash = rng.choice([" ", " ", "  "] + ([""] if not good else []))
    return f"{rng.choice(['  ', '', '    '])}-{dash}{{{rng.choice(['', ' '])}{body}{rng.choice(['', ' '])}}}{tail}"


def _file(rng: random.Random) -> str:
    good = rng.random() < 0.6
    lines = [rng.choice(["", "# head", "  # x"]) for _ in range(rng.randint(0, 2))]
    head = ["deployments:"] * 6 + ([] if good else ["deployments: ", "deployments:  # c", "x:", "---"])
    lines.append(rng.choice(head))
    indent = rng.choice(["  ", "", "    "])
    for _ in range(rng.randint(0, 5)):
        if rng.random() < 0.9:
            line = _entry(rng, good)
            lines.append(indent + line.lstrip() if good else line)
        else:
            lines.append(rng.choice(["", "  # c", "   "] + ([] if good else ["\t# t", "  - x", "other: 1", "..."])))
    return "\n".join(lines) + rng.choice(["\n", "\n\n", "\n# end\n"] + ([] if good else ["", "\r\n"]))


def _general(text: str) -> object:
    try:
        return [(d.data, list(d.spans.items()), d.lines, d.index) for d in yamlsrc.load_documents(text, "f.yaml")]
    except TpdError as exc:
        return exc.message


def test_same_documents_as_the_composer() -> None:
    rng = random.Random(25)
    taken = 0
    for _ in range(2500):
        text = _file(rng)
        try:
            fast = flowlist.documents(text, "f.yaml")
        except TpdError as exc:  # a template or conflict markers: refused the same way
            assert _general(text) == exc.message
            continue
        if fast is None:
            continue
        taken += 1
        got = [(d.data, list(d.spans.items()), d.lines, d.index) for d in fast]
        assert repr(got) == repr(_general(text)), text  # repr: 1 and True, 1.0 and 1 told apart
    assert taken > 800  # the generator reaches the fast path often enough to mean something


@pytest.mark.parametrize("text", [
    "deployments:\n  - {name: a, tp: 2}\n",  # no model: the same error either way
    "deployments:\n  - {name: a, model: m, tp: 0}\n",
    "deployments:\n  - {name: a, model: m, typo: 1}\n",
    "deployments:\n  - {model: m, gpus: [0, 0]}\n",
    "deployments:\n  - {model: m, tp: 2}\n  - {model: m, tp: 2}\n",
])
def test_same_deployments_or_error(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def read() -> object:
        try:
            return loader.read_text(text, "jobs.yaml")
        except TpdError as exc:
            return exc.message

    assert flowlist.documents(text, "jobs.yaml") is not None
    fast = read()
    monkeypatch.setattr(flowlist, "documents", lambda text, source: None)
    assert read() == fast


@pytest.mark.parametrize("text", [
    "deployments:\n  - name: a\n    model: m\n",  # block style
    "deployments:\n  - {name: a, model: m}\n  - &x {name: b, model: m}\n",  # an anchor
    "deployments:\n  - {name: a, model: m, env: {A: b}}\n",  # nesting
    "deployments:\n  - {name: a, model: m}\n    - {name: b, model: m}\n",  # another indent
    "deployments:\n  - {name: a, model: m}",  # no final line break
    "deployments:\n  - {name: a,\n     model: m}\n",  # an entry over two lines
    "deployments:\n  - {name: é, model: m}\n",  # not ASCII
])
def test_other_shapes_are_read_the_general_way(text: str) -> None:
    assert flowlist.documents(text, "jobs.yaml") is None


def test_string_first_characters_resolve_as_strings() -> None:
    import yaml

    strings = yamlsrc.str_first_chars()
    assert {"a", "d", "g", "_", "/"} <= strings and not {"0", "1", "t", "y", "n", "o", "~", "."} & strings
    resolver = yamlsrc._Loader("")
    for c in strings:
        for text in (c, c + "0", c + "rue", c + "2001-01-01", c + ".5"):
            assert resolver.resolve(yaml.ScalarNode, text, (True, False)) == yamlsrc.STR_TAG, text
