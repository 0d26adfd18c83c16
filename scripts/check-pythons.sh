#!/usr/bin/env bash
# Install tpdoctor the documented way (`pip install .`, from this checkout) into a fresh venv for each
# given Python and run the try-it command and the rule cases there (both CEL backends where they install).
# Usage: scripts/check-pythons.sh /usr/bin/python3.9 /usr/bin/python3.10 ...   (venvs under ${TMPDIR:-/tmp})
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for python in "$@"; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    venv="${TMPDIR:-/tmp}/tpdoctor-py$version"
    rm -rf "$venv" && "$python" -m venv "$venv"
    echo "== Python $version ($python)"
    if ! "$venv/bin/pip" install --quiet . pytest pytest-timeout hypothesis 2>&1 | grep -v "^WARNING: Location"; then :; fi
    "$venv/bin/pip" show tpdoctor >/dev/null 2>&1 || { echo "install FAILED"; status=1; continue; }
    "$venv/bin/python" -c 'import tpdoctor.engine.cel as c; print("CEL backend:", c.backend().NAME)'
    "$venv/bin/tpdoctor" demo >/dev/null; echo "tpdoctor demo: exit $?"
    "$venv/bin/tpdoctor" demo --exit-status >/dev/null; echo "tpdoctor demo --exit-status: exit $?"
    (cd tests/.. && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_rule_cases.py \
        tests/test_deployment_rule_cases.py tests/fleet/test_fleet_rule_cases.py tests/engine \
        --deselect tests/engine/test_cel_backends.py::test_rule_cases_pass_under_the_pure_python_backend 2>&1 | tail -1) \
        || status=1
done
exit $status
