"""The real-manifest corpus (fixtures/deployments/real/): each file with its `.meta.yaml` answer key.

`reading(d)` is what an SRE would write down about one deployment, in the answer key's vocabulary; the
corpus test and the 8× H100 check both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tpdoctor.model.deployment import Deployment

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "fixtures" / "deployments" / "real"
ISSUE12_KEYS = ("engine", "model", "tp", "pp", "dp", "ep", "replicas", "nodes", "gpus", "gpu_count", "dtype",
                "kv_cache_dtype", "max_model_len", "max_num_seqs", "gpu_memory_utilization", "mem_fraction_static",
                "max_total_tokens", "max_batch_total_tokens", "unresolved")
KEYS = (*ISSUE12_KEYS, "gpus_are", "placement")  # whose indices `gpus` are, and how the GPUs are chosen


def files() -> list[Path]:
    return sorted(p for p in REAL.iterdir() if not p.name.endswith((".meta.yaml", ".md")) and p.name != "SPLIT.yaml")


def meta(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.with_name(path.name.rsplit(".", 1)[0] + ".meta.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def reading(d: Deployment) -> dict[str, Any]:
    """The answer key's vocabulary (attributes an older tree lacks read as absent: scripts/corpus_score.py scores
    other checkouts with it)."""
    copies = d.dp if d.dp > 1 and d.replicas % d.dp == 0 else 1
    gpus = list(d.gpus) if d.gpus is not None else None
    return {
        "engine": d.engine, "model": d.model or None, "tp": None if "tp" in d.unknown else d.tp,
        "pp": None if "pp" in d.unknown else d.pp, "dp": d.dp, "ep": d.ep, "replicas": d.replicas // copies,
        "nodes": d.nodes, "gpus": gpus,
        "gpu_count": d.gpu_count if d.gpu_count is not None else (len(d.gpus) if d.gpus else None),
        "gpus_are": getattr(d, "gpu_scope", None) if gpus is not None else None,
        "placement": getattr(d, "placement", None),
        "dtype": d.dtype, "kv_cache_dtype": d.kv_cache_dtype, "max_model_len": d.max_model_len,
        "max_num_seqs": d.max_num_seqs, "gpu_memory_utilization": d.gpu_memory_utilization,
        "mem_fraction_static": d.mem_fraction_static, "max_total_tokens": d.max_total_tokens,
        "max_batch_total_tokens": d.max_batch_total_tokens, "unresolved": sorted(d.unresolved),
    }


def differences(got: dict[str, Any], want: dict[str, Any], keys: tuple[str, ...] = KEYS) -> list[str]:
    out = []
    for key in keys:
        w, g = want.get(key), got.get(key)
        if key == "unresolved":
            w, g = sorted(w or []), sorted(g or [])
        if isinstance(w, float) or isinstance(g, float):
            same = w is not None and g is not None and abs(float(w) - float(g)) < 1e-9
        else:
            same = w == g
        if not same:
            out.append(f"{key}: got {g!r}, want {w!r}")
    return out
