"""Shared helpers for the bench tests: real gloo ranks on this machine, small sizes, short deadlines."""

from __future__ import annotations

import pytest

from tpdoctor.bench.backend import torch_available

requires_torch = pytest.mark.skipif(not torch_available(),
                                    reason="torch is not installed (pip install torch==2.13.0)")
