"""`import pynvml` for subprocess tests: replaces itself with the fake NVML named by TPD_FAKE_NVML."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.fakenvml import load  # noqa: E402

_fixture = os.environ.get("TPD_FAKE_NVML")
if not _fixture:
    raise ImportError("TPD_FAKE_NVML is not set: the fake pynvml needs a fixture machine")
sys.modules[__name__] = load(_fixture, name=__name__)
