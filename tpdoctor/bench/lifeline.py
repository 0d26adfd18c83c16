"""Benchmark processes live and die with the `tpdoctor bench` that started them.

A rank must never outlive its parent: `timeout`, `systemctl stop` or a pod eviction send SIGTERM (or
SIGKILL) to the command, and a rank stuck in a collective would otherwise run on in a session of its own.

- Children: every process the launcher starts (local ranks, the torchrun agent, and through torchrun its
  ranks) runs `python -m tpdoctor.bench.lifeline MODULE ARGS...`, which asks Linux for the parent-death
  signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`), checks that its parent is still the one that started it
  (`TPDOCTOR_BENCH_PARENT`; a parent that died before the prctl would never send the signal), records its
  own pid there for its children, and execs `python -P -m MODULE ARGS...` (the signal survives exec;
  `-P` only on Python >= 3.11, which has it; older ones rely on the working directory `/` and
  PYTHONSAFEPATH, see launch.bench_env).
  The kernel sends the signal when the *thread* that forked the child exits, so the launcher starts its
  processes from the thread that waits for them. Elsewhere than Linux this is a plain exec.
- The parent: while a benchmark runs, `Termination` turns SIGTERM, SIGINT and SIGHUP into a flag the watcher
  reads at least twice a second; it then kills every rank, reaps them and raises a BenchError (exit 3).
  A handler never raises, so a signal that arrives during the cleanup cannot cut it short.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType

from tpdoctor.model.errors import BenchError

PARENT_VARIABLE = "TPDOCTOR_BENCH_PARENT"
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


SAFE_PATH = "-P"  # Python >= 3.11: `-m` does not put the working directory first on sys.path


def safe_path() -> list[str]:
    """`-P` where this interpreter (`sys.executable`, the one every rank runs) knows it: Python 3.9 and 3.10
    refuse it ("Unknown option: -P"); there the ranks' working directory (`launch.RANK_CWD`, writable by
    root only) is what `-m` puts first on sys.path."""
    return [SAFE_PATH] if sys.version_info >= (3, 11) else []


def via_lifeline(python: str, module: str, args: Sequence[str]) -> list[str]:
    """The command line that runs `python -m module args` with the parent-death signal set."""
    return [python, *safe_path(), "-m", "tpdoctor.bench.lifeline", module, *args]


def _prctl_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(expected_parent: int | None, *, sig: int = signal.SIGKILL,
                    prctl: Callable[[int], bool] = _prctl_pdeathsig,
                    getppid: Callable[[], int] = os.getppid) -> bool:
    """Ask for `sig` when the parent dies; False when the parent is already gone (then nobody will send it:
    the caller must exit). Without `expected_parent` the check is skipped."""
    prctl(sig)
    return expected_parent is None or getppid() == expected_parent


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m tpdoctor.bench.lifeline MODULE [ARGS...]", file=sys.stderr)
        return 2
    text = os.environ.get(PARENT_VARIABLE, "")
    if not die_with_parent(int(text) if text.isdigit() else None):
        print(f"tpdoctor.bench.lifeline: parent {text} exited before {args[0]} started", file=sys.stderr)
        return 1
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # the processes this one starts check against it
    os.execv(sys.executable, [sys.executable, *safe_path(), "-m", *args])
    return 1  # not reached: execv raises on failure


class Termination:
    """While in use (`with Termination() as stop:`), SIGTERM, SIGINT and SIGHUP set `stop.signal` instead
    of ending the process; `stop.check()` raises the BenchError once the ranks are gone. Installed only in
    the main thread (the only one Python delivers signals to); a signal the process ignores (nohup) stays
    ignored."""

    def __init__(self, signals: Sequence[signal.Signals] = STOP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.signal: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum)

    def __call__(self) -> str | None:
        """Why the benchmark must stop now (None: carry on): the watcher's `stop` callback."""
        return None if self.signal is None else f"terminated by {self.signal.name}"

    def check(self, leftover: Sequence[int] = ()) -> None:
        """Raise the BenchError for a stop signal (after the ranks were killed and reaped)."""
        if self.signal is None:
            return
        if leftover:
            raise BenchError(f"the benchmark was terminated by {self.signal.name}; processes "
                             f"{sorted(set(leftover))} survived the kill", hint="kill them by pid")
        raise BenchError(f"the benchmark was terminated by {self.signal.name}; every rank was killed",
                         hint="results are reported only for a run that ends by itself")

    def __enter__(self) -> Termination:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                previous = signal.getsignal(sig)
                if previous is not signal.SIG_IGN:
                    self._previous[sig] = previous
                    signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)  # type: ignore[arg-type]
        self._previous.clear()


if __name__ == "__main__":
    sys.exit(main())
