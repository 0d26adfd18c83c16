"""Finding and reading a model's `config.json`: a path the user names, the path a manifest names, or the
Hugging Face cache on this machine — offline, bounded, and never anything but a small regular file.

tpdoctor runs as root on GPU nodes and reads manifests other people wrote, so a path from a manifest is
hostile input: it is read through `files/read.py` (regular files only, so a device, FIFO or socket — also
behind a symlink — is refused without blocking; at most `MAX_CONFIG_BYTES`), and a repo id is only ever
turned into a path inside a cache directory after it passed `_REPO_PART` (no `..`, no separators).

The cache is where `huggingface_hub` puts it: `$HF_HUB_CACHE` or `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`,
else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`; a repo's files are
`models--{org}--{name}/snapshots/{revision}/config.json`, the revision `refs/main` points to first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from tpdoctor.files.read import read_text
from tpdoctor.llm.hfconfig import from_hf_config
from tpdoctor.llm.spec import ModelSpec
from tpdoctor.model.errors import InputError, ManifestError

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # published config.json files are a few KiB; layer lists a few dozen
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON object in a config.json (bounded read); ManifestError naming the file otherwise."""
    try:
        text = read_text(path, max_bytes=MAX_CONFIG_BYTES, what="a model config.json")
    except InputError as exc:
        raise ManifestError(f"model config {exc.message}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}: model config is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: model config is not a JSON object")
    return data


def config_file(path: str | Path) -> Path:
    """A config.json named directly, or the one inside a model directory."""
    p = Path(path).expanduser()
    return p / "config.json" if p.is_dir() else p


def load_config(path: str | Path) -> ModelSpec:
    """Read a local `config.json` (or a model directory holding one)."""
    p = config_file(path)
    return from_hf_config(read_config(p), str(p))


def cache_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """Where the Hugging Face hub cache may be, in huggingface_hub's order of precedence."""
    e = os.environ if env is None else env
    out: list[Path] = []
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if e.get(var):
            out.append(Path(e[var]).expanduser())
    if e.get("HF_HOME"):
        out.append(Path(e["HF_HOME"]).expanduser() / "hub")
    xdg = e.get("XDG_CACHE_HOME")
    out.append((Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()) / "huggingface" / "hub")
    return list(dict.fromkeys(out))


def find_in_cache(repo_id: str, env: dict[str, str] | None = None) -> Path | None:
    """The cached config.json of `org/name`, or None (nothing is downloaded)."""
    org, _, name = repo_id.partition("/")
    if not (org and name and _REPO_PART.match(org) and _REPO_PART.match(name)):
        return None
    for base in cache_dirs(env):
        repo = base / f"models--{org}--{name}"
        snaps = repo / "snapshots"
        try:
            if not snaps.is_dir():
                continue
            main = _ref(repo / "refs" / "main")
            order = [snaps / main] if main else []
            order += sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                            reverse=True)
        except OSError:
            continue
        for snap in order:
            cand = snap / "config.json"
            if cand.is_file():
                return cand
    return None


def _ref(path: Path) -> str | None:
    try:
        sha = read_text(path, max_bytes=256).strip()
    except InputError:
        return None
    return sha if re.fullmatch(r"[0-9a-f]{7,64}", sha) else None
