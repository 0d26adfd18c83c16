"""One truth for every default: what README, docs/ and `--help` say about a default is what the code does.

Each default names the code constant and the words a text uses for it; every sentence that names it must
give the constant's value (a sentence may also name the other limit, e.g. "never shorter than --timeout")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tpdoctor.cli import cli
from tpdoctor.probes import limits
from tpdoctor.report import nfd

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {p.relative_to(ROOT).as_posix(): p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
SECONDS = re.compile(r"(\d+(?:\.\d+)?) ?(?:s|seconds)\b")
RANGE = re.compile(r"\d+(?:\.\d+)? ?(?:–|-|to) ?[\d,]+(?:\.\d+)? ?(?:s|seconds)\b")


def help_texts() -> dict[str, str]:
    runner = CliRunner()
    return {f"{name} --help": runner.invoke(cli, [name, "--help"], terminal_width=200).output
            for name in ("scan", "health", "collect", "bench", "check-deployment")}


def sentences(text: str) -> list[str]:
    """Sentences of prose, each table row and each code line on its own."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|```", text):
        rows = [line for line in block.splitlines() if line.lstrip().startswith(("|", "#", "tpdoctor:"))]
        out += rows
        prose = " ".join(line for line in block.splitlines() if line not in rows)
        out += re.split(r"(?<=[.!?])\s+(?=[A-Z`(])", " ".join(prose.split()))
    return out


DEFAULTS = [
    # (what, value, a sentence names it when it matches this)
    ("the NVML read's deadline", limits.DEFAULT_DEADLINE_SECONDS,
     re.compile(r"NVML (read|probe)[^.]*deadline|deadline[^.]*NVML|TPDOCTOR_NVML_DEADLINE")),
    ("each nvidia-smi command's timeout", limits.DEFAULT_TIMEOUT_SECONDS,
     re.compile(r"each nvidia-smi command|TPDOCTOR_PROBE_TIMEOUT|Per-command|nvidia-smi `?--timeout")),
]


@pytest.mark.parametrize(("what", "value", "names"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_every_text_states_the_codes_default(what: str, value: float, names: re.Pattern[str]) -> None:
    wrong = []
    found = 0
    for where, text in {**TEXTS, **help_texts()}.items():
        for sentence in sentences(text):
            if not names.search(sentence):
                continue
            sentence = RANGE.sub("", sentence)  # "0.1 to 600 s" states a setting's bounds, not its default
            stated = {float(n) for n in SECONDS.findall(sentence)} | {
                float(n) for n in re.findall(r"default (\d+(?:\.\d+)?)", sentence)}
            stated -= {v for _, v, other in DEFAULTS if v != value and other.search(sentence)}
            if not stated:
                continue
            found += 1
            if stated != {value}:
                wrong.append(f"{where}: {sentence[:160]!r} says {sorted(stated)}, the code {value:g}")
    assert found >= 2, f"no text states {what}"
    assert not wrong, "\n".join(wrong)


def test_nfd_expiry_default_is_the_documented_one() -> None:
    docs = TEXTS["docs/health.md"] + TEXTS["docs/nvlink-domains.md"]
    stated = re.findall(r"expir[a-z]*[^.]{0,60}?(\d+) ?(h|hour|min|s)\b", docs)
    seconds = {int(n) * {"h": 3600, "hour": 3600, "min": 60, "s": 1}[u] for n, u in stated}
    assert seconds <= {nfd.DEFAULT_EXPIRY_SECONDS}, seconds
