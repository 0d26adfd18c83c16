"""The wheel carries the rule catalogue (top-level rules/ -> tpdoctor/rules/) and an installed tpdoctor
finds it there: a real `pip wheel`, inspected, then installed into a fresh target and run from elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_rules_and_installed_loader_finds_them(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a clean copy: no stale build/ from earlier builds leaks into the wheel
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "tests", "fixtures",
                                                              "__pycache__", ".*_cache", "benchmarks"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(src)], check=True, timeout=180, capture_output=True)
    (wheel,) = wheels.glob("tpdoctor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source_rules = sorted(p.relative_to(ROOT / "rules").as_posix() for p in (ROOT / "rules").rglob("*.yaml"))
    assert source_rules and all(f"tpdoctor/rules/{r}" in names for r in source_rules)
    assert "tpdoctor/data/gpus.yaml" in names
    schemas = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))
    assert schemas and all(f"tpdoctor/schemas/{n}" in names for n in schemas)  # the contracts, versioned
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith("rules/")]  # only inside the package

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=180, capture_output=True)
    code = ("from tpdoctor.engine.loader import builtin_rules_dir\n"
            "from tpdoctor.report.catalogue import load_catalogue\n"
            "print(builtin_rules_dir()); print(len(load_catalogue()))\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    where, count = res.stdout.split()
    assert Path(where) == target / "tpdoctor" / "rules"
    assert int(count) == len(source_rules)
    res = subprocess.run([sys.executable, "-m", "tpdoctor", "explain", "TPD100"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.startswith("## TPD100 nvlink-down")
