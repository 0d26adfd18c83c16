"""IMEX on this node: capture (`systemctl`, `nvidia-imex-ctl`, the node list) and pure parsers into `Imex`.

Commands and files (NVIDIA IMEX guide, docs.nvidia.com/multi-node-nvlink-systems/imex-guide/):
- `systemctl is-active nvidia-imex`, `systemctl is-enabled nvidia-imex`: the service (exit status non-zero
  for inactive/disabled, the word on stdout is what counts);
- `nvidia-imex-ctl -q`: this node's daemon, one word (READY, WAITING_FOR_PEERS, ...);
- `nvidia-imex-ctl -N -j`: the IMEX domain as JSON (`{"nodes": {...}, "status": "UP|DOWN|DEGRADED"}`),
  or `-N` as text on builds without JSON ("Node #0 - 172.31.48.81 - READY - Version: 570.172", a C/N/R/D/A/I
  connectivity table, "Domain State: UP");
- the node list named by `IMEX_NODE_CONFIG_FILE` in /etc/nvidia-imex/config.cfg (default
  /etc/nvidia-imex/nodes_config.cfg): one address per line, identical on every node of the domain.

`nvidia-imex-ctl -n` (it streams forever) is never run. Everything is optional: what cannot be read is an
Unknown with the reason, and the capture's notes say which command failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tpdoctor.model.errors import ParseError, ProbeError, TpdError
from tpdoctor.model.imex import Imex, ImexNode
from tpdoctor.model.topology import Topology
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.probes.runner import CommandFailed, Runner, run

ACTIVE, ENABLED, CTL_Q, CTL_N_JSON, CTL_N_TEXT, NODES = (
    "imex-is-active.txt", "imex-is-enabled.txt", "imex-ctl-q.txt", "imex-ctl-N.json", "imex-ctl-N.txt",
    "imex-nodes_config.cfg")
FILES = (ACTIVE, ENABLED, CTL_Q, CTL_N_JSON, CTL_N_TEXT, NODES)
CONFIG = Path("/etc/nvidia-imex/config.cfg")
DEFAULT_NODES = Path("/etc/nvidia-imex/nodes_config.cfg")
_CMDS = {ACTIVE: ("systemctl", "is-active", "nvidia-imex"), ENABLED: ("systemctl", "is-enabled", "nvidia-imex"),
         CTL_Q: ("nvidia-imex-ctl", "-q"), CTL_N_JSON: ("nvidia-imex-ctl", "-N", "-j"),
         CTL_N_TEXT: ("nvidia-imex-ctl", "-N")}
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_NODE_LINE = re.compile(r"^Node #(\d+)\s+-\s+(\S+)\s+-\s+(\S+)(?:\s+-\s+Version:\s+(\S+))?")
_DOMAIN_LINE = re.compile(r"^Domain State:\s*(\S+)")
_ROW = re.compile(r"^\s*(\d+)\s+((?:\S+\s*)+)$")
MAX_NODES_FILE = 64 * 1024


def capture(runner: Runner = run, *, timeout_seconds: float,
            read_file: Callable[[Path], str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Run the IMEX commands and copy the node list: texts by collect-directory file name, and notes."""
    texts: dict[str, str] = {}
    notes: list[str] = []
    for name in (ACTIVE, ENABLED, CTL_Q, CTL_N_JSON):
        argv = _CMDS[name]
        try:
            texts[name] = runner(argv, timeout_seconds=timeout_seconds).stdout
        except CommandFailed as exc:
            if name in (ACTIVE, ENABLED) and exc.stdout.strip():  # "inactive", "disabled": exit 3 / 1
                texts[name] = exc.stdout
            elif name == ENABLED and "no such file" in exc.stderr.lower():
                texts[name] = "not-found\n"
            else:
                notes.append(f"IMEX: `{' '.join(argv)}` failed: {exc.message}")
        except ProbeError as exc:
            notes.append(f"IMEX: `{' '.join(argv)}` failed: {exc.message}")
            if "not found" in exc.message and argv[0] == "nvidia-imex-ctl":
                break  # not installed: the other ctl calls would say the same
    if CTL_N_JSON not in texts and any(n.startswith("IMEX: `nvidia-imex-ctl -N -j`") for n in notes):
        try:
            texts[CTL_N_TEXT] = runner(_CMDS[CTL_N_TEXT], timeout_seconds=timeout_seconds).stdout
        except ProbeError as exc:
            notes.append(f"IMEX: `nvidia-imex-ctl -N` failed: {exc.message}")
    reader = read_file or _read
    try:
        cfg = reader(CONFIG)
    except (OSError, TpdError):
        cfg = ""  # no config.cfg: the default node list
    try:
        texts[NODES] = reader(nodes_file(cfg))
    except (OSError, TpdError) as exc:
        notes.append(f"IMEX: node list not read ({exc})")
    return texts, notes


def attach(topology: Topology, runner: Runner = run, *, timeout_seconds: float,
           read_file: Callable[[Path], str] | None = None) -> tuple[Topology, dict[str, str]]:
    """The topology with its IMEX state, read only where IMEX matters: a node in (or built for) a multi-node
    NVLink domain. Also the captured texts (for a collect directory)."""
    if topology.nvlink_domain is None:
        return topology, {}
    texts, notes = capture(runner, timeout_seconds=timeout_seconds, read_file=read_file)
    imex, parse_notes = imex_from_texts(texts)
    return replace(topology, imex=imex, probe_notes=(*topology.probe_notes, *notes, *parse_notes)), texts


def _read(path: Path) -> str:
    from tpdoctor.files.read import read_text

    return read_text(path, max_bytes=MAX_NODES_FILE, what="an IMEX configuration file")


def nodes_file(config_text: str) -> Path:
    """The node list named by IMEX_NODE_CONFIG_FILE in config.cfg (the default when unset)."""
    for line in config_text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "IMEX_NODE_CONFIG_FILE" and value.strip():
            return Path(value.strip())
    return DEFAULT_NODES


def parse_word(text: str, what: str, source: str) -> Maybe[str]:
    """A one-word answer (`systemctl is-active`, `nvidia-imex-ctl -q`)."""
    words = [w for w in text.split() if w]
    if not words:
        return Unknown(f"{what}: empty output")
    if len(words) > 1 or not _WORD.match(words[0]):
        raise ParseError(f"expected one word from {what}, got {text.strip()[:80]!r}", source=source, line=1)
    return words[0]


def parse_domain_json(text: str, source: str) -> tuple[str, tuple[ImexNode, ...], tuple[str, ...]]:
    """`nvidia-imex-ctl -N -j`: (domain status, nodes, connections that are not CONNECTED)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON ({exc.msg})", source=source, line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ParseError("expected an object with a domain `status`", source=source)
    raw = data.get("nodes") or {}
    if not isinstance(raw, dict):
        raise ParseError("`nodes` is not an object", source=source)
    nodes, bad = [], []
    for key in sorted(raw, key=lambda k: int(k) if str(k).isdigit() else 1 << 30):
        node = raw[key]
        if not isinstance(node, dict) or not str(key).isdigit():
            raise ParseError(f"node {key!r} is not an object keyed by its index", source=source)
        version = node.get("version")
        nodes.append(ImexNode(int(key), str(node.get("host", "")), str(node.get("status", "UNKNOWN")).upper(),
                              str(version) if version else None))
        for peer, conn in sorted((node.get("connections") or {}).items()):
            status = str(conn.get("status", "")) if isinstance(conn, dict) else ""
            if status.upper() != "CONNECTED":
                bad.append(f"{key}→{peer} {status or '?'}")
    return data["status"].upper(), tuple(nodes), tuple(bad)


def parse_domain_text(text: str, source: str) -> tuple[str, tuple[ImexNode, ...], tuple[str, ...]]:
    """`nvidia-imex-ctl -N` as text: node rows, the connectivity table, the `Domain State` line."""
    if "Failed to read node configuration file" in text:
        raise ParseError("IMEX is not configured (no node configuration file)", source=source)
    nodes, bad = [], []
    state: str | None = None
    header: list[str] | None = None
    for line in text.splitlines():
        s = line.strip()
        m = _NODE_LINE.match(s)
        if m:
            nodes.append(ImexNode(int(m.group(1)), m.group(2), m.group(3).upper(), m.group(4)))
            continue
        d = _DOMAIN_LINE.match(s)
        if d:
            state = d.group(1).upper()
            continue
        if s.startswith("Nodes From"):
            header = s.split()[2:]  # "Nodes From\\To 0 1 2" -> the column indices
            continue
        r = _ROW.match(line) if header is not None else None
        if r:
            for peer, cell in zip(header or [], r.group(2).split()):
                if cell != "C" and peer != r.group(1):
                    bad.append(f"{r.group(1)}→{peer} {cell}")
    if state is None:
        raise ParseError("no `Domain State:` line: not `nvidia-imex-ctl -N` output", source=source)
    return state, tuple(nodes), tuple(bad)


def parse_nodes_config(text: str) -> tuple[str, ...]:
    return tuple(s for line in text.splitlines() if (s := line.split("#", 1)[0].strip()))


def imex_from_texts(texts: Mapping[str, str], where: str = "") -> tuple[Imex | None, list[str]]:
    """The Imex record from captured texts (None when nothing about IMEX was captured), and notes."""
    if not any(name in texts for name in FILES):
        return None, []
    notes: list[str] = []
    prefix = f"{where.rstrip('/')}/" if where else ""
    values: dict[str, Any] = {}

    def word(name: str, field: str, what: str, missing: str) -> None:
        if name not in texts:
            values[field] = Unknown(missing)
            return
        try:
            values[field] = parse_word(texts[name], what, prefix + name)
        except ParseError as exc:
            notes.append(f"ignored {name}: {exc.reason}")
            values[field] = Unknown(f"{name} did not parse")

    word(ACTIVE, "service", "systemctl is-active", "systemctl is-active not captured")
    word(ENABLED, "enabled", "systemctl is-enabled", "systemctl is-enabled not captured")
    word(CTL_Q, "daemon", "nvidia-imex-ctl -q", "nvidia-imex-ctl -q not captured (not installed?)")
    values["domain"] = Unknown("nvidia-imex-ctl -N not captured")
    for name, parser in ((CTL_N_JSON, parse_domain_json), (CTL_N_TEXT, parse_domain_text)):
        if name in texts:
            try:
                values["domain"], values["nodes"], values["not_connected"] = parser(texts[name], prefix + name)
                break
            except ParseError as exc:
                notes.append(f"ignored {name}: {exc.reason}")
                values["domain"] = Unknown(f"{name}: {exc.reason}")
    values["config_nodes"] = parse_nodes_config(texts[NODES]) if NODES in texts else \
        Unknown("nodes_config.cfg not captured")
    return Imex(**values), notes
