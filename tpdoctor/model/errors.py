"""Each layer raises its own error type; only the CLI turns them into a message and an exit code."""

from __future__ import annotations


class TpdError(Exception):
    """Base of every error tpdoctor reports to a user: one line of what broke, plus an optional hint."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ParseError(TpdError):
    """Text that is not what it claims to be (nvidia-smi output, a snapshot, a bench log)."""

    def __init__(self, message: str, *, source: str = "<text>", line: int | None = None,
                 hint: str | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}", hint=hint)
        self.source = source
        self.line = line
        self.reason = message


class InputError(TpdError):
    """A file handed to us that cannot be input: missing, not a regular file, too large, binary, not UTF-8,
    or YAML that expands without bound. The message names the path."""


class OutputError(TpdError):
    """A file we were asked to write (a baseline and its lock, metrics, a fixed manifest, a capture) that
    cannot be written: its directory is missing or read-only, the disk is full. The message names the path."""


class ProbeError(TpdError):
    """The machine could not be read: no driver, nvidia-smi missing or hung, NVML refused."""


class ManifestError(TpdError):
    """A deployment manifest that cannot be read (malformed YAML, unknown kind, contradictions)."""


class NotADeployment(ManifestError):
    """A file that holds no deployment tpdoctor checks: no engine launch (a Service, a ConfigMap), only a build
    step, or a job on other accelerators than NVIDIA GPUs. With several inputs it is a note, not a failure."""


class RuleLoadError(TpdError):
    """A rule file that cannot be loaded (bad YAML, unknown field, CEL that does not compile)."""


class BenchError(TpdError):
    """The all-reduce benchmark could not run (torch missing, spawn failed, watchdog fired)."""
