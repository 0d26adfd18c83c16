"""Both CEL backends answer alike: the rule-case harnesses and the engine tests, run again with the
pure-Python backend (`TPDOCTOR_CEL=cel-python`, the one pip installs on CPython 3.9 and 3.10), plus the
semantics where the two libraries differ unless tpdoctor evens them out."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpdoctor.engine import cel
from tpdoctor.engine.cel_errors import CelCompileError, CelEvalError

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = []
for _name in cel.BACKENDS:  # each one installed here: both in the test set-up (the test extra has cel-python);
    with contextlib.suppress(ImportError):  # a user's 3.9/3.10 has only cel-python, a 3.11+ only cel-expr-python
        BACKENDS.append(cel._import(_name))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.NAME)
@pytest.mark.parametrize(("expression", "facts", "want"), [
    ("x.n == 1.0", {"x": {"n": 1}}, True),            # heterogeneous numeric equality
    ("x.n > 0.5", {"x": {"n": 1}}, True),             # int against double
    ("x.d != null && x.d > 100", {"x": {"d": 101}}, True),  # a value against null: unequal, not an error
    ("x.d == null", {"x": {"d": None}}, True),
    ("x.s == 1", {"x": {"s": "1"}}, False),
    ("[1, 2].map(v, v * 2)", {}, [2, 4]),
    ("{'a': [1]}", {}, {"a": [1]}),
    ("has(x.missing)", {"x": {}}, False),
])
def test_same_value(backend, expression: str, facts: dict, want: object) -> None:  # type: ignore[no-untyped-def]
    program = backend.compile_expression(expression, ("x",))
    got = backend.evaluate(program, facts)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.NAME)
def test_same_errors(backend) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CelCompileError) as info:
        backend.compile_expression("x.a && link.b", ("x",))
    assert info.value.undeclared == "link"
    assert backend.compile_expression("xs.all(link, link > 0)", ("xs",))  # a bound name is not undeclared
    for expression in ("x.missing > 1", "x.s + 1 == 2"):
        with pytest.raises(CelEvalError):
            backend.evaluate(backend.compile_expression(expression, ("x",)), {"x": {"s": "a"}})


def test_rule_cases_pass_under_the_pure_python_backend() -> None:
    pytest.importorskip("celpy", reason="cel-python is not installed (the test extra installs it)")
    env = {**os.environ, "TPDOCTOR_CEL": "cel-python"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_rule_cases.py",
                           "tests/test_deployment_rule_cases.py", "tests/fleet/test_fleet_rule_cases.py",
                           "tests/engine/test_engine.py", "tests/engine/test_cost.py",
                           "tests/engine/test_rule_loading.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
