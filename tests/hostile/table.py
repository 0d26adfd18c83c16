"""Print the hostile cases as a Markdown table, run on one tree or two (before and after):

    python -m tests.hostile.table                                   # this tree
    python -m tests.hostile.table --before main /work/main /work/main/.venv/bin/python [--before ...]

Each run gets the case's deadline plus 10 s, and at most 4 GiB of memory; a run still going then is
killed and reported as such. The inputs are built by this tree's builders (cases.py) in a fresh folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tests.hostile.cases import CASES as CASES15
from tests.hostile.cases19 import CASES19, TABLE_ONLY
from tests.hostile.harness import ROOT, Case, Result, run_case, shorten, summary


def cell(result: Result, case: Case, folder: Path) -> str:
    text = summary(result, case)
    if case.stream == "stdout" and result.returncode != case.exit:
        said = next((ln.strip() for ln in result.stderr.splitlines() if ln.startswith("tpdoctor:")), "")
        text += f" [stderr: {shorten(said, 120)}]" if said else ""
    text += left_behind(result, case, folder)
    text = text.replace(str(folder), "{tmp}").replace("|", "\\|").replace("\n", " ")
    late = result.returncode is not None and result.seconds >= case.deadline
    return f"{text} ({result.seconds:.1f} s{', past the deadline' if late else ''})"


def left_behind(result: Result, case: Case, folder: Path) -> str:
    """What the run wrote where, as the row's `check` sees it: its description, or what it found wrong."""
    if case.check is None:
        return ""
    try:
        said = case.check(folder, result)
    except (AssertionError, OSError) as exc:
        return f"; **{shorten(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 160)}**"
    return f"; {said}" if isinstance(said, str) else "; check passed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", nargs=3, action="append", default=[], metavar=("LABEL", "ROOT", "PYTHON"),
                        help="a tree to run first (a column named LABEL), and its python; repeatable")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--only19", action="store_true", help="only the rows of issue 19 (cases19.py)")
    args = parser.parse_args(argv)
    rows19 = CASES19 + TABLE_ONLY
    cases = [c for c in CASES15 + rows19 if args.k in c.name and (not args.only19 or c in rows19)]
    head = "| # | case | item | command | expected | "
    head += "".join(f"{label} | " for label, _, _ in args.before) + ("after |" if args.before else "result |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for n, case in enumerate(cases, 1):
            cells = []
            if case.root and os.geteuid() != 0:
                continue
            for k, (_, root, python) in enumerate(args.before):
                before = Path(tmp) / f"b{k}-{n}"
                cells.append(cell(run_case(case, before, root=Path(root), python=python), case, before))
            after = Path(tmp) / f"a{n}"
            cells.append(cell(run_case(case, after, root=ROOT, python=sys.executable), case, after))
            command = " ".join(case.argv).replace("|", "\\|")
            print(f"| {n} | {case.name} | {case.issue} | `tpdoctor {command}` | {case.exit} | "
                  + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
