"""The CEL runtime (`common-expression-language`), loaded without its REPL.

`import cel` runs the package's `__init__`, which imports `cel.cli` and with it prompt_toolkit: 100-300 ms
on every tpdoctor start, for an interactive shell we never use. We load the native extension `cel.cel`
directly (about 8 ms) and register it under its own name, so a later `import cel` elsewhere in the
process reuses it instead of initialising the extension twice (which panics in its logger setup).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def runtime() -> ModuleType:
    """The module with `compile()` and `Program`."""
    loaded = sys.modules.get("cel.cel") or sys.modules.get("cel")
    if loaded is not None:
        return loaded
    try:
        return _load_extension()
    except Exception:  # an unexpected layout: fall back to the documented import
        import cel

        return cel


def _load_extension() -> ModuleType:
    spec = importlib.util.find_spec("cel")
    if spec is None or spec.origin is None:
        raise ImportError("common-expression-language is not installed")
    package = Path(spec.origin).parent
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    native = next(p for p in sorted(package.iterdir()) if p.name.startswith("cel.") and p.name.endswith(suffixes))
    ext_spec = importlib.util.spec_from_file_location("cel.cel", native)
    if ext_spec is None or ext_spec.loader is None:
        raise ImportError(f"cannot load {native}")
    module = importlib.util.module_from_spec(ext_spec)
    sys.modules["cel.cel"] = module
    try:
        ext_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["cel.cel"]
        raise
    return module
