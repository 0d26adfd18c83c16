"""Build hook: ship the top-level `rules/` and `schemas/` folders inside the wheel as `tpdoctor/rules/` and
`tpdoctor/schemas/` (the JSON Schemas of the contracts, docs/contract.md).

Rules live at the top of the repository (one YAML file per rule, easy to review); the installed package
finds them at `tpdoctor/rules/` (see `tpdoctor.rulebook.builtin_rules_dir`). Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_rules(build_py):  # noqa: N801  (setuptools command naming)
    def run(self) -> None:
        super().run()
        for name in ("rules", "schemas"):
            src = Path(__file__).resolve().parent / name
            if not src.is_dir():  # building from an sdist that already carries tpdoctor/<name>
                continue
            dst = Path(self.build_lib) / "tpdoctor" / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*~", ".*"))


setup(cmdclass={"build_py": build_py_with_rules})
