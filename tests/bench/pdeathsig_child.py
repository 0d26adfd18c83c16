"""Run by test_lifeline through `python -m tpdoctor.bench.lifeline`: prints the parent-death signal this
process carries (prctl PR_GET_PDEATHSIG) and the parent the lifeline recorded for its own children."""

from __future__ import annotations

import ctypes
import os

PR_GET_PDEATHSIG = 2

if __name__ == "__main__":
    sig = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(PR_GET_PDEATHSIG, ctypes.byref(sig), 0, 0, 0)
    print(sig.value, os.environ.get("TPDOCTOR_BENCH_PARENT") == str(os.getpid()))
