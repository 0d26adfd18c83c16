"""Run a command on a machine whose kernel host name is any bytes, as `sethostname(2)` allows (root only):

    python tests/hostile/ashost.py 'gpu\\xff01' -- python -m tpdoctor collect DIR

The name is given with Python escapes (`\\xff`: the byte 0xff, `\\n`: a newline). A new UTS namespace
(`unshare(CLONE_NEWUTS)`) keeps the change to this process and what it starts; the machine keeps its name.
Used by tests/hostile/ rows that feed tpdoctor a host name that is not UTF-8 or holds a newline.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWUTS = 0x04000000


def main(argv: list[str]) -> int:
    name = argv[0].encode("latin-1").decode("unicode_escape").encode("latin-1")
    rest = argv[argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUTS) != 0 or libc.sethostname(name, len(name)) != 0:
        print(f"ashost: cannot set the host name: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 125
    os.execvp(rest[0], rest)
    return 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
