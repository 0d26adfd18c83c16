"""A fake runner for the IMEX capture (`probes/imex.py`): answers `systemctl` and `nvidia-imex-ctl` from the
imex-* files of a collect directory, the way the real commands answer (an inactive service exits 3 with the
word on stdout; a command with nothing captured is not installed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tpdoctor.model.errors import ProbeError
from tpdoctor.probes import imex
from tpdoctor.probes.runner import CommandFailed, CommandResult, Runner

FILE_OF = {argv: name for name, argv in imex._CMDS.items()}


def imex_runner(directory: Path) -> Runner:
    def run(argv: Sequence[str], *, timeout_seconds: float) -> CommandResult:
        name = FILE_OF.get(tuple(argv))
        path = directory / name if name else None
        installed = argv[0] == "systemctl" or any(directory.glob("imex-ctl-*"))
        if not installed:
            raise ProbeError(f"{argv[0]} not found (running {' '.join(argv)})")
        if path is None or not path.exists():  # installed, but this build does not know the option
            raise CommandFailed(f"{' '.join(argv)} exited with status 1", hint=None, returncode=1, stdout="",
                                stderr="nvidia-imex-ctl: invalid option")
        text = path.read_text()
        if argv[0] == "systemctl" and text.strip() not in ("active", "enabled", "static"):
            raise CommandFailed(f"{' '.join(argv)} exited with status 3", hint=None, returncode=3, stdout=text,
                                stderr="")
        return CommandResult(tuple(argv), text, "", 0, 0.01)
    return run


def imex_files(directory: Path) -> Callable[[Path], str]:
    """read_file for the capture: the collect directory's node list stands for the node's config files."""
    def read(path: Path) -> str:
        if path == imex.CONFIG:
            raise FileNotFoundError(str(path))
        found = directory / imex.NODES
        if not found.exists():
            raise FileNotFoundError(str(path))
        return found.read_text()
    return read
