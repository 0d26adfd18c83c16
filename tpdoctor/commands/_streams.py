"""stdout and stderr as tpdoctor writes them: always encodable, and a failed write to stdout recognisable.

- Encoding: on a stream that cannot encode a character (`LC_ALL=C`, `PYTHONUTF8=0`: ASCII), the symbols
  of our views are written the ASCII way (`✗` as `x`, `→` as `->`, box lines as `-|+`; safetext.ASCII),
  anything else as `?`, instead of a UnicodeEncodeError.
- Write errors: stdout's buffer turns an OSError into `StdoutError` (`> /dev/full`: ENOSPC; a reader that
  went away, `| head -1`: EPIPE), so the boundary in cli.py can tell it from a bug and say it in one line.
  click re-wraps stdout's buffer for an ASCII locale, rich and `sys.stdout.write` use sys.stdout: all of
  them write through this buffer.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import sys
from typing import Any

from tpdoctor.model.safetext import ascii_fallback

ERRORS = "tpdoctor"  # the codecs error handler's name


class StdoutError(OSError):
    """Writing to stdout failed (the errno of the OSError it stands for)."""


class _GuardedBuffer(io.BufferedWriter):
    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None


def prepare() -> None:
    """Install the error handler on both streams and the guard on stdout (a real file descriptor only:
    a test's captured stream is left as it is)."""
    codecs.register_error(ERRORS, ascii_fallback)
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.reconfigure(errors=ERRORS)  # type: ignore[union-attr]
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    raw = getattr(buffer, "raw", buffer)  # PYTHONUNBUFFERED=1: the buffer is the FileIO itself
    if type(out) is not io.TextIOWrapper or type(buffer) not in (io.BufferedWriter, io.FileIO) \
            or not isinstance(raw, io.FileIO):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            out.reconfigure(errors=ERRORS)  # type: ignore[union-attr]
        return
    unbuffered = buffer is raw
    encoding, line_buffering = out.encoding, out.line_buffering or unbuffered
    out.flush()
    detached = out.detach()  # the file descriptor stays open: it now belongs to the new stream
    if not unbuffered:
        detached.detach()
    sys.stdout = io.TextIOWrapper(_GuardedBuffer(raw), encoding=encoding, errors=ERRORS,
                                  line_buffering=line_buffering, write_through=unbuffered)
