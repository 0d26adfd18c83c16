"""A faithful fake NVML for tests: the real pynvml module, running on a fake `libnvidia-ml.so.1`.

`load(fixture)` executes the installed `pynvml.py` (nvidia-ml-py) as a fresh, private module whose
`CDLL("libnvidia-ml.so.1")` yields a `FakeNvmlLib` answering from the fixture machine. Everything the
probe sees -- function names and signatures, structs, constants, `NVMLError_*` classes, str() texts,
unhashable errors, the `(0,)` P2P read index, `c_uint` returns -- is therefore pynvml's own; only the C
library under it is fake. The probe cannot tell the difference.

For subprocess tests, put `tests/fakenvml/shim` first on PYTHONPATH and name the fixture in
`TPD_FAKE_NVML`: `import pynvml` then yields such a module.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.fakenvml.clib import FakeNvmlLib
from tests.fakenvml.machine import Machine, load_machine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "nvml"
_serial = itertools.count()


def real_pynvml_path() -> Path:
    """The installed nvidia-ml-py `pynvml.py`, found without importing it (the shim may shadow it)."""
    shim = str(Path(__file__).parent / "shim")
    for entry in sys.path:
        if entry and Path(entry).resolve() == Path(shim).resolve():
            continue
        cand = Path(entry or ".") / "pynvml.py"
        if cand.is_file() and "site-packages" in str(cand.resolve()):
            return cand
    raise RuntimeError("nvidia-ml-py (pynvml.py) is not installed in this interpreter")


def load(fixture: str | Path | Machine, *, name: str | None = None,
         sleep: Callable[[float], object] = time.sleep) -> ModuleType:
    """A fresh pynvml module backed by the fake machine (a path, a fixture name, or a Machine)."""
    if isinstance(fixture, Machine):
        machine = fixture
    else:
        p = Path(fixture)
        if not p.exists() and (FIXTURES / f"{fixture}.yaml").exists():
            p = FIXTURES / f"{fixture}.yaml"
        machine = load_machine(p)
    lib = FakeNvmlLib(machine, sleep=sleep)
    modname = name or f"_fake_pynvml_{next(_serial)}"
    spec = importlib.util.spec_from_file_location(modname, real_pynvml_path())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # pynvml looks itself up in sys.modules while it builds its errors
    spec.loader.exec_module(module)

    def cdll(libname: str, *args: Any, **kwargs: Any) -> FakeNvmlLib:
        if machine.faults.get("init_error") == "LibraryNotFound":
            raise OSError(f"{libname}: cannot open shared object file: No such file or directory")
        return lib

    module.CDLL = cdll  # type: ignore[attr-defined]  # the only seam: which shared library loads
    module._fake_lib = lib  # type: ignore[attr-defined]  # tests read call counts from here
    return module


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.yaml"))
