#!/usr/bin/env bash
# Install what the tests need into a project venv (.venv, or $TPDOCTOR_VENV) and run the whole suite:
# ruff, mypy, pytest. The CPU build of torch is pinned explicitly: an unpinned torch pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TPDOCTOR_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet -e ".[test,bench]"
echo "== ruff"
"$venv/bin/ruff" check tpdoctor tests benchmarks scripts
echo "== mypy"
"$venv/bin/mypy"
echo "== pytest"
"$venv/bin/python" -m pytest -q "$@"
