"""`nvidia-smi nvlink --status | -e | -c` text -> per-GPU blocks.

The three outputs share one shape: a `GPU n: name (UUID: ...)` line, then indented `Link N...`
lines. One reader walks that shape and hands each link line to the parser of the wanted command;
link lines of a sibling command (a status block pasted before a capabilities block) are skipped and
noted, anything else after the first GPU line is a ParseError naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tpdoctor.probes.smi_text import (
    KIND_NVLINK_CAPS,
    KIND_NVLINK_ERRORS,
    KIND_NVLINK_STATUS,
    fail,
    is_bare_prompt,
    is_elision,
    is_ruler,
    pick_sections,
)
from tpdoctor.probes.smi_types import NvlinkCapsGpu, NvlinkErrorsGpu, NvlinkStatusGpu

_GPU_RE = re.compile(r"^GPU (\d+):\s*(.*?)\s*(?:\(UUID:\s*([^)]*?)\s*\))?$", re.ASCII)
_STATUS_RE = re.compile(r"^Link (\d+):\s*(?:(<inactive>)|(\d+(?:\.\d+)?)\s*GB/s)$", re.IGNORECASE | re.ASCII)
_ERRORS_RE = re.compile(r"^Link (\d+):\s*([A-Za-z][A-Za-z0-9 ()/_-]*?)\s*:\s*(\S+)$", re.ASCII)
_CAPS_RE = re.compile(r"^Link (\d+),\s*(.+?):\s*(true|false)$", re.IGNORECASE | re.ASCII)
_OTHER_LINK_RE = re.compile(r"^Link (\d+)\s*[:,]", re.ASCII)
_SUMMARY_RE = re.compile(r"^Links\s+[\d ,\-]+:", re.ASCII)
_ALL_INACTIVE_RE = re.compile(
    r"^NVML: Unable to retrieve NVLink information as all links are inactive$", re.IGNORECASE | re.ASCII
)
_PROMPT_CMD_RE = re.compile(r"^[\w@:~/.\-\[\]()]*[$#>]\s+\S", re.ASCII)
_UUID_RE = re.compile(r"^GPU-[0-9a-fA-F-]{8,}$", re.ASCII)

_ERROR_NAMES = {
    "replay errors": "replay",
    "recovery errors": "recovery",
    "crc errors": "crc",
    "crc flit errors": "crc_flit",
    "crc data errors": "crc_data",
}
_CAP_NAMES = {
    "p2p is supported": "p2p",
    "access to system memory supported": "sysmem_access",
    "p2p atomics supported": "p2p_atomics",
    "system memory atomics supported": "sysmem_atomics",
    "sli is supported": "sli",
    "link is supported": "link_supported",
}
_KIND_RES = {KIND_NVLINK_STATUS: _STATUS_RE, KIND_NVLINK_ERRORS: _ERRORS_RE, KIND_NVLINK_CAPS: _CAPS_RE}


@dataclass
class _Block:
    index: int
    name: str
    uuid: str | None
    line: int
    header_present: bool = True
    all_inactive: bool = False
    links: dict[int, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _walk(
    text: str, source: str, kind: str, what: str, take: Callable[[_Block, re.Match[str], int], None]
) -> list[_Block]:
    """Read the GPU blocks of `kind`; `take` stores one matched link line into its block."""
    want = _KIND_RES[kind]
    blocks: dict[int, _Block] = {}
    cur: _Block | None = None
    wanted = 0
    foreign: tuple[int, str] | None = None
    for section in pick_sections(text, kind, source, what):
        for ln in section.lines:
            s = ln.text.strip()
            if not s or is_ruler(s) or is_bare_prompt(s):
                continue
            if is_elision(s):
                if cur is not None:
                    cur.notes.append(f"line {ln.number}: {s!r}: links or GPUs elided")
                continue
            if m := _GPU_RE.match(s):
                idx = int(m.group(1))
                uuid = m.group(3)
                if uuid is not None and not _UUID_RE.match(uuid):
                    uuid = None
                if idx in blocks:
                    cur = blocks[idx]
                    cur.notes.append(f"line {ln.number}: GPU {idx} listed again; merged")
                else:
                    cur = blocks[idx] = _Block(idx, m.group(2), uuid, ln.number)
                continue
            if _ALL_INACTIVE_RE.match(s):
                if cur is None:
                    raise fail(source, ln.number, "NVML message before any `GPU n:` line")
                cur.all_inactive = True
                wanted += 1
                continue
            if m := want.match(s):
                if cur is None:
                    cur = blocks[0] = _Block(0, "", None, ln.number, header_present=False)
                    cur.notes.append(f"line {ln.number}: no `GPU n:` line; GPU index 0 assumed")
                take(cur, m, ln.number)
                wanted += 1
                continue
            other = next((k for k, r in _KIND_RES.items() if k != kind and r.match(s)), None)
            if other is not None or _OTHER_LINK_RE.match(s):
                foreign = foreign or (ln.number, other or "another nvlink option")
                msg = f"`{other or 'nvlink'}` lines skipped"
                if cur is not None and not any(n.endswith(msg) for n in cur.notes):
                    cur.notes.append(f"from line {ln.number}: {msg}")
                continue
            if _SUMMARY_RE.match(s) and cur is not None:
                cur.notes.append(f"line {ln.number}: condensed summary line not parsed: {s!r}")
                continue
            if cur is None or _PROMPT_CMD_RE.match(s):
                continue  # preamble (prompts, a shell loop) or a later prompt line
            raise fail(
                source, ln.number, f"expected a `Link N` line of {what} or a `GPU n:` line, got {s[:60]!r}"
            )
    if wanted == 0:
        if foreign is not None:
            raise fail(source, foreign[0], f"expected {what}, found `{foreign[1]}` lines instead")
        raise fail(source, None, f"expected {what}: no `GPU n:` block with `Link N` lines found")
    return list(blocks.values())


def _link_once(b: _Block, link: int, key: str | None, value: Any, line: int, source: str) -> None:
    slot = b.links if key is None else b.links.setdefault(link, {})
    k: Any = link if key is None else key
    if k in slot and slot[k] != value:
        raise fail(
            source,
            line,
            f"GPU {b.index} link {link}{' ' + key if key else ''} read twice: {slot[k]} then {value}",
        )
    slot[k] = value


_G = TypeVar("_G", NvlinkStatusGpu, NvlinkErrorsGpu, NvlinkCapsGpu)


def _gpus(cls: type[_G], blocks: list[_Block]) -> tuple[_G, ...]:
    """One result per GPU block, whichever `nvlink` sub-command it came from."""
    return tuple(
        cls(b.index, b.name, b.uuid, dict(b.links), all_inactive=b.all_inactive,
            header_present=b.header_present, notes=tuple(b.notes))
        for b in blocks
    )


def parse_nvlink_status(text: str, source: str = "<nvlink --status>") -> tuple[NvlinkStatusGpu, ...]:
    """Per GPU: link -> GB/s, None for `<inactive>`; `all_inactive` for NVML's "all links are inActive"."""

    def take(b: _Block, m: re.Match[str], line: int) -> None:
        _link_once(b, int(m.group(1)), None, None if m.group(2) else float(m.group(3)), line, source)

    blocks = _walk(text, source, KIND_NVLINK_STATUS, "`nvidia-smi nvlink --status` output", take)
    return _gpus(NvlinkStatusGpu, blocks)


def parse_nvlink_errors(text: str, source: str = "<nvlink -e>") -> tuple[NvlinkErrorsGpu, ...]:
    """Per GPU and link: counter name (replay, recovery, crc, crc_flit, crc_data, or snake_case) -> value."""

    def take(b: _Block, m: re.Match[str], line: int) -> None:
        name = m.group(2).strip()
        key = _ERROR_NAMES.get(name.lower(), snake(name))
        raw = m.group(3)
        if not re.fullmatch(r"[0-9]+", raw):
            b.notes.append(f"line {line}: link {m.group(1)} {name} is {raw!r}, not a count; skipped")
            b.links.setdefault(int(m.group(1)), {})
            return
        _link_once(b, int(m.group(1)), key, int(raw), line, source)

    blocks = _walk(text, source, KIND_NVLINK_ERRORS, "`nvidia-smi nvlink -e` output", take)
    return _gpus(NvlinkErrorsGpu, blocks)


def parse_nvlink_caps(text: str, source: str = "<nvlink -c>") -> tuple[NvlinkCapsGpu, ...]:
    """Per GPU and link: capability (p2p, sysmem_access, p2p_atomics, sysmem_atomics, sli, link_supported)."""

    def take(b: _Block, m: re.Match[str], line: int) -> None:
        name = m.group(2).strip()
        key = _CAP_NAMES.get(name.lower(), snake(name))
        _link_once(b, int(m.group(1)), key, m.group(3).lower() == "true", line, source)

    blocks = _walk(text, source, KIND_NVLINK_CAPS, "`nvidia-smi nvlink -c` output", take)
    return _gpus(NvlinkCapsGpu, blocks)
