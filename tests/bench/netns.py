"""Two network namespaces joined by veth pairs, for the slow-link end-to-end test. Root only.

Everything created here is named with this process's pid and removed by `close()` (deleting a namespace
deletes the veth ends inside it; an end still in the root namespace is deleted explicitly).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20)


def _check(*args: str) -> None:
    proc = _run(*args)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns add)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) is not installed"
    probe = f"tpdprobe{os.getpid()}"
    proc = _run("ip", "netns", "add", probe)
    if proc.returncode != 0:
        return f"ip netns add is not permitted here: {proc.stderr.strip()}"
    _run("ip", "netns", "del", probe)
    return None


@dataclass
class VethLink:
    subnet: int  # third octet... of 10.77.0.x: link k uses 10.77.0.(4k+1) and (4k+2), a /30
    names: tuple[str, str]

    def address(self, side: int) -> str:
        return f"10.77.0.{4 * self.subnet + 1 + side}"


@dataclass
class NamespacePair:
    """Namespaces `ns[0]`, `ns[1]`; `link(rate_mbit)` adds a veth pair between them, shaped or not."""

    tag: str = field(default_factory=lambda: str(os.getpid()))
    ns: tuple[str, str] = ("", "")
    links: list[VethLink] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ns = (f"tpd{self.tag}a", f"tpd{self.tag}b")

    def open(self) -> NamespacePair:
        for ns in self.ns:
            _check("ip", "netns", "add", ns)
            _check("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def link(self, rate_mbit: int | None) -> VethLink:
        k = len(self.links)
        link = VethLink(subnet=k, names=(f"tv{self.tag}{k}a", f"tv{self.tag}{k}b"))
        self.links.append(link)
        _check("ip", "link", "add", link.names[0], "type", "veth", "peer", "name", link.names[1])
        for side in (0, 1):
            ns, dev = self.ns[side], link.names[side]
            _check("ip", "link", "set", dev, "netns", ns)
            _check("ip", "-n", ns, "addr", "add", f"{link.address(side)}/30", "dev", dev)
            _check("ip", "-n", ns, "link", "set", dev, "mtu", "9000", "up")
            if rate_mbit is not None:  # both directions: each end shapes what it sends
                _check("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{rate_mbit}mbit",
                       "burst", "256kb", "latency", "400ms")
        return link

    def close(self) -> None:
        for ns in self.ns:  # deleting a namespace does not end the processes inside it
            for pid in namespace_pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for ns in self.ns:
            _run("ip", "netns", "del", ns)
        for link in self.links:
            for dev in link.names:
                if _run("ip", "link", "show", dev).returncode == 0:
                    _run("ip", "link", "del", dev)

    def leftovers(self) -> list[str]:
        names = _run("ip", "netns", "list").stdout + _run("ip", "-o", "link", "show").stdout
        return [n for n in (*self.ns, *(d for lk in self.links for d in lk.names)) if n in names]


def namespace_pids(ns: str) -> list[int]:
    """Processes still running inside namespace `ns` (empty when everything there has exited)."""
    proc = _run("ip", "netns", "pids", ns)
    return sorted(int(p) for p in proc.stdout.split()) if proc.returncode == 0 else []
