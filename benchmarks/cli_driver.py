"""Run `tpdoctor predict … --json` command lines in one process and return the TP=N prediction of each: the
validation's predictions go through the CLI a user has, not through the model's functions.

    python benchmarks/cli_driver.py < lines.json      # [[arg, …], …] -> [{"per_token_ms": …}, …] on stdout

Run with another checkout on PYTHONPATH (e.g. main at a090e98) it scores that checkout's CLI the same way.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Sequence
from typing import Any


def run(lines: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    from tpdoctor.cli import main

    out: list[dict[str, Any]] = []
    for args in lines:
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            rc = main(list(args))
        if rc != 0:
            out.append({"error": (err.getvalue().strip().splitlines() or [f"exit {rc}"])[0]})
            continue
        first = json.loads(buf.getvalue())["predictions"][0]
        out.append({k: first[k] for k in ("per_token_ms", "per_token_ms_low", "per_token_ms_high", "regime")
                    if k in first})
    return out


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
