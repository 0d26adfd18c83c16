"""Turn what the probes saw into the node's links, with what *should* be there.

The probes supply facts: each GPU's NVLink ports (state), the PCIe path and active NVLink count of each
GPU pair, P2P status, NIC paths. This module decides, per GPU pair, how many NVLinks are expected, the
link's health and its effective path (a pair whose NVLinks are down carries its PCIe path).

"Expected" comes, in order (docs/health.md): the baseline; the SKU and its board topology (`data/gpus.yaml`:
an NVSwitch system expects every pair at the full link count, a bridge pair its bridge's links);
symmetry with sibling pairs (an all-to-all pattern, or bridged pairs elsewhere on the node); and,
absent any evidence, what is observed. A GPU without NVLink hardware never expects any: "not supported"
is not "down"; nor does a pair of GPUs in a VM whose driver exposes no NVLink port (`vm:nvlink-not-exposed`,
model/virtualization.py), though the baseline, when given, still wins.

Where the evidence cannot answer, the link says so instead of guessing: a pair the capture never showed
(a `topo -m` cut short) or whose NVLink count could not be read has `nvlinks_expected` Unknown and health
`unknown`, never `ok` (SYS assumed) and never `down`; on a bridge SKU whose port states were not read, an
unbridged pair beside bridged siblings is "bridge missing or its links down" (health unknown, evidence
`suspect`), because `topo -m` alone cannot tell an absent bridge from a dark one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from tpdoctor.model import skus
from tpdoctor.model.topology import (
    Gpu,
    Link,
    LinkHealth,
    Nic,
    NvLinkState,
    RemoteType,
    Topology,
    path_sort_key,
)
from tpdoctor.model.unknown import Maybe, Unknown
from tpdoctor.model.virtualization import nvlink_not_exposed

Pair = tuple[int, int]
SUSPECT_BRIDGE = "bridge-missing-or-down"  # Link.evidence["suspect"]: see TPD113
VM_NOT_EXPOSED = "vm:nvlink-not-exposed"  # Expectation.source: both GPUs in a VM that exposes no NVLink
ALL_TO_ALL_SHARE = 0.75  # share of GPU pairs on NVLink above which a node is read as all-to-all


@dataclass(frozen=True)
class Expectation:
    nvlinks: Maybe[int]
    source: str  # baseline | sku:<key> | symmetry:all-to-all | symmetry:bridge-pairs | vm:... | observed


def port_counts(gpu: Gpu) -> tuple[int, int]:
    """(active, inactive) NVLink ports of a GPU as its probe reported them; disabled ports (MIG) excluded."""
    active = sum(1 for p in gpu.nvlinks if p.state is NvLinkState.ACTIVE)
    inactive = sum(1 for p in gpu.nvlinks if p.state is NvLinkState.INACTIVE)
    return active, inactive


def gpu_expected_active(gpu: Gpu) -> Maybe[int]:
    """NVLinks this GPU should have active when connected, from its SKU (H100 NVL: 12 of 18 ports)."""
    sku = skus.lookup(gpu.name)
    if sku is None:
        return Unknown(f"unknown SKU {gpu.name!r}")
    return sku.nvlink.expected if sku.has_nvlink else 0


def _pair(i: int, j: int) -> Pair:
    return (i, j) if i < j else (j, i)


def is_switch_system(gpus: Sequence[Gpu], counts: Mapping[Pair, int], switch_fabric: bool | None) -> bool:
    if switch_fabric is not None:
        return switch_fabric
    if any(p.remote_type is RemoteType.SWITCH for g in gpus for p in g.nvlinks):
        return True
    if any(g.fabric is not None and g.fabric.state != "not_supported" for g in gpus):
        return True
    # On an NVSwitch board every pair shows all of a GPU's links (NV18 on H100); a direct mesh splits them.
    if len(gpus) > 2:
        for g in gpus:
            sku = skus.lookup(g.name)
            if (sku and sku.nvlink.topology == "switch" and sku.nvlink.expected
                    and any(c >= sku.nvlink.expected for (a, b), c in counts.items() if g.index in (a, b))):
                return True
    return False


def infer_expected(
    gpus: Sequence[Gpu],
    counts: Mapping[Pair, int],
    pcie_paths: Mapping[Pair, Maybe[str]],
    *,
    switch_fabric: bool | None = None,
    baseline: Topology | None = None,
    unseen: Mapping[Pair, str] | None = None,
) -> tuple[dict[Pair, Expectation], list[str]]:
    """Expected NVLinks per GPU pair, with where the expectation came from, plus notes for the report.

    `unseen` pairs (no evidence of their NVLink count; value: why) expect Unknown and take no part in
    the symmetry or SKU inference: a truncated capture must neither pass nor fail pairs it never showed."""
    notes: list[str] = []
    unseen = unseen or {}
    pairs = [p for a, b in combinations(gpus, 2) if (p := _pair(a.index, b.index)) not in unseen]
    by_index = {g.index: g for g in gpus}
    expected: dict[Pair, Expectation] = {p: Expectation(counts.get(p, 0), "observed") for p in pairs}
    expected.update({p: Expectation(Unknown(why), "unseen") for p, why in unseen.items()})
    if not pairs:
        return expected, notes

    # 1. Symmetry: an all-to-all pattern (NVSwitch boards, 4-GPU meshes) with a few pairs short.
    nv_counts = [counts[p] for p in pairs if counts.get(p, 0) > 0]
    if len(nv_counts) >= ALL_TO_ALL_SHARE * len(pairs) and len(pairs) > 1:
        mode, _ = Counter(nv_counts).most_common(1)[0]
        for p in pairs:
            if counts.get(p, 0) < mode:
                expected[p] = Expectation(mode, "symmetry:all-to-all")

    # 2. SKU: NVSwitch systems expect every pair at the full count; bridge SKUs pair up broken bridges.
    switch = is_switch_system(gpus, counts, switch_fabric)
    for p in pairs:
        a, b = by_index[p[0]], by_index[p[1]]
        sa, sb = skus.lookup(a.name), skus.lookup(b.name)
        if sa is None or sb is None or sa.key != sb.key or not sa.has_nvlink:
            continue
        spec = sa.nvlink
        if spec.topology == "switch" and a.status == "ok" and b.status == "ok":
            if switch or len(gpus) >= 8:
                want = spec.expected
            elif not any(counts.values()) and all(port_counts(g)[1] for g in (a, b)):
                want = spec.expected // max(1, len(gpus) - 1)  # direct mesh, every link dark
            else:
                continue
            current = expected[p].nvlinks
            if isinstance(current, int) and want > current:
                expected[p] = Expectation(want, f"sku:{sa.key}")
        elif spec.topology == "bridge" and counts.get(p, 0) > 0 and counts[p] < spec.expected:
            expected[p] = Expectation(spec.expected, f"sku:{sa.key}")

    _pair_broken_bridges(gpus, counts, pcie_paths, expected, notes)

    # 2b. A VM whose driver exposes no NVLink port on either GPU: nothing here can bond an NVLink, whatever the
    # board has; the pair runs on PCIe by construction (TPD125 says so), not "down" and not "unknown".
    for p in pairs:
        if counts.get(p, 0) == 0 and all(nvlink_not_exposed(by_index[i]) for i in p):
            expected[p] = Expectation(0, VM_NOT_EXPOSED)

    # 3. Baseline wins over everything inferred.
    if baseline is not None:
        for p in pairs:
            base = baseline_expectation(baseline.gpu_link(*p))
            if base is not None:
                expected[p] = Expectation(base, "baseline")
    return expected, notes


def baseline_expectation(old: Link | None) -> int | None:
    """What a baseline link says the pair should have: the NVLinks it had up (or expected, if more);
    None when the baseline has no such pair or could not judge it (health unknown then)."""
    if old is None or old.health is LinkHealth.UNKNOWN:
        return None
    base = old.nvlinks_expected if isinstance(old.nvlinks_expected, int) else old.nvlinks
    return max(base, old.nvlinks)


def _pair_broken_bridges(
    gpus: Sequence[Gpu],
    counts: Mapping[Pair, int],
    pcie_paths: Mapping[Pair, Maybe[str]],
    expected: dict[Pair, Expectation],
    notes: list[str],
) -> None:
    """Bridge SKUs: GPUs whose NVLink ports are all dark, on a node where other GPUs of the same SKU are
    bridged, lost their bridge; pair them up, nearest PCIe path first (then lowest index). GPUs whose
    ports were not read at all are paired the same way, but as suspects: bridge missing or its links
    down, which the port states (or the baseline) would tell apart."""
    bridged = {i for p, c in counts.items() if c > 0 for i in p}
    by_sku: dict[str, list[Gpu]] = {}
    for g in gpus:
        sku = skus.lookup(g.name)
        if sku is None or sku.nvlink.topology != "bridge" or g.status != "ok":
            continue
        active, inactive = port_counts(g)
        if g.index not in bridged and (g.nvlinks_unread is not None or (active == 0 and inactive > 0)):
            by_sku.setdefault(sku.key, []).append(g)
    for key, dark in by_sku.items():
        sku = skus.by_key(key)
        assert sku is not None
        siblings = [i for i in bridged if (s := skus.lookup(_name(gpus, i))) is not None and s.key == key]
        if not siblings:
            continue  # no bridged sibling: these may simply be unbridged cards
        left = sorted(dark, key=lambda g: g.index)
        while len(left) >= 2:
            g = left.pop(0)

            def distance(h: Gpu, g: Gpu = g) -> tuple[tuple[int, int], int]:
                path = pcie_paths.get(_pair(g.index, h.index))
                return (path_sort_key(path) if isinstance(path, str) else (99, 0), h.index)

            h = min(left, key=distance)
            left.remove(h)
            p = _pair(g.index, h.index)
            if p not in expected:
                continue  # never seen (truncated capture): stays unknown
            others = ", ".join(f"GPU{i}" for i in sorted(siblings))
            if g.nvlinks_unread is not None or h.nvlinks_unread is not None:
                why = (f"bridge missing or its links down: GPU{p[0]}-GPU{p[1]} ({sku.key}) show no NVLink "
                       f"while {others} are bridged, and their NVLink port states were not read")
                expected[p] = Expectation(Unknown(why), f"suspect:{SUSPECT_BRIDGE}")
                notes.append(why)
                continue
            expected[p] = Expectation(sku.nvlink.expected, "symmetry:bridge-pairs")
            notes.append(
                f"GPU{p[0]} and GPU{p[1]} ({sku.key}) have every NVLink port inactive while "
                f"{others} are bridged: read as a bridge pair whose {sku.nvlink.expected} NVLinks are down"
            )
        for g in left:
            notes.append(f"GPU{g.index} has every NVLink port inactive (or unread) and no unbridged partner")


def _name(gpus: Sequence[Gpu], index: int) -> str:
    return next(g.name for g in gpus if g.index == index)


def _nominal_gbps(a: Gpu, b: Gpu, nvlinks: int) -> Maybe[float]:
    """Per-direction rating of the effective path: NVLinks x link rate, else the slower GPU's PCIe link."""
    sa, sb = skus.lookup(a.name), skus.lookup(b.name)
    if nvlinks > 0:
        rates = [s.nvlink.link_gbps for s in (sa, sb) if s is not None and s.nvlink.link_gbps]
        if not rates:
            return Unknown("NVLink rate of this SKU not known")
        return round(nvlinks * min(rates), 3)
    per_gpu: list[float] = []
    for g, s in ((a, sa), (b, sb)):
        # Generation drops at idle by design, width does not: rate the slot's max gen at today's width.
        gen: Maybe[int] = g.pcie.gen_max
        width: Maybe[int] = g.pcie.width_current
        if isinstance(gen, Unknown) and s is not None:
            gen = s.pcie_gen
        if isinstance(width, Unknown) and s is not None:
            width = s.pcie_width
        rate = skus.pcie_gbps(gen, width)
        if isinstance(rate, Unknown):
            return rate
        per_gpu.append(rate)
    return min(per_gpu)


def _p2p_code(detail: Mapping[str, str]) -> Maybe[str]:
    """One P2P verdict as NCCL reads it: usable when both read and write are OK."""
    if not detail:
        return Unknown("P2P status not read")
    read, write = detail.get("read"), detail.get("write")
    if read is None and write is None:
        return Unknown("P2P read/write status not read")
    for code in (read, write):
        if code is not None and code != "OK":
            return code
    return "OK"


def split_counts(gpus: Sequence[Gpu], pcie_paths: Mapping[Pair, Maybe[str]],
                 nvlink_counts: Mapping[Pair, Maybe[int]]) -> tuple[dict[Pair, int], dict[Pair, str]]:
    """Known NVLink counts per pair, and the pairs nobody saw (value: why).

    A pair absent from `nvlink_counts` counts 0 when its PCIe path is known (the cell was there); with
    neither, the pair was never seen. An Unknown count (far ends unreadable) is unseen too."""
    counts: dict[Pair, int] = {}
    unseen: dict[Pair, str] = {}
    for a, b in combinations(gpus, 2):
        p = _pair(a.index, b.index)
        n = nvlink_counts.get(p, nvlink_counts.get((p[1], p[0])))
        path = pcie_paths.get(p, pcie_paths.get((p[1], p[0]), Unknown("PCIe path not read")))
        if isinstance(n, int):
            counts[p] = n
        elif isinstance(n, Unknown):
            unseen[p] = n.reason
        elif isinstance(path, str):
            counts[p] = 0
        else:
            unseen[p] = path.reason
    return counts, unseen


def link_health(a: Gpu, b: Gpu, expected: Maybe[int], active: int) -> LinkHealth:
    """ok, degraded, down, or unknown when a GPU could not be read or nothing says what to expect."""
    if a.status != "ok" or b.status != "ok" or isinstance(expected, Unknown):
        return LinkHealth.UNKNOWN
    if active >= expected:
        return LinkHealth.OK
    return LinkHealth.DOWN if active == 0 else LinkHealth.DEGRADED


def build_links(
    gpus: Sequence[Gpu],
    pcie_paths: Mapping[Pair, Maybe[str]],
    nvlink_counts: Mapping[Pair, Maybe[int]],
    *,
    p2p: Mapping[Pair, Mapping[str, str]] | None = None,
    nics: Sequence[Nic] = (),
    nic_paths: Mapping[tuple[int, int], str] | None = None,
    switch_fabric: bool | None = None,
    baseline: Topology | None = None,
) -> tuple[tuple[Link, ...], tuple[str, ...]]:
    """Every GPU pair (and GPU–NIC pair with a known path) as a Link, plus notes for the report.

    Keys of `pcie_paths`, `nvlink_counts` and `p2p` are GPU index pairs (i, j) with i < j; `nic_paths`
    keys are (gpu index, nic index). A pair with neither a count nor a PCIe path was never seen: its
    health is unknown (see `split_counts`).
    """
    p2p = p2p or {}
    nic_paths = nic_paths or {}
    paths = {_pair(*k): v for k, v in pcie_paths.items()}
    counts, unseen = split_counts(gpus, paths, nvlink_counts)
    expected, notes = infer_expected(gpus, counts, paths, switch_fabric=switch_fabric, baseline=baseline,
                                     unseen=unseen)
    ordered_gpus = sorted(gpus, key=lambda g: g.index)
    links: list[Link] = []
    for a, b in combinations(ordered_gpus, 2):
        p = (a.index, b.index)
        active = counts.get(p, 0)
        exp = expected[p]
        pcie = paths.get(p, Unknown("PCIe path not read"))
        evidence: dict[str, object] = {"expected_from": exp.source}
        if active > 0:
            path = f"NV{active}"
        elif isinstance(pcie, str):
            path = pcie
        else:
            path = "SYS"
            evidence["path_assumed"] = f"PCIe path not known ({pcie.reason}); assumed SYS, the worst case"
            if p not in unseen:
                notes.append(f"GPU{a.index}-GPU{b.index}: PCIe path not known; assumed SYS")
        if p in unseen:
            evidence["unseen"] = unseen[p]
        if exp.source.startswith("suspect:"):
            evidence["suspect"] = exp.source.removeprefix("suspect:")
        if a.status != "ok" or b.status != "ok":
            evidence["gpu_status"] = {a.label: a.status, b.label: b.status}
        detail = dict(p2p.get(p, {}))
        links.append(Link(
            a=a.label, b=b.label, path=path, nvlinks=active, nvlinks_expected=exp.nvlinks,
            pcie_path=pcie, p2p=_p2p_code(detail), p2p_detail=detail,
            health=link_health(a, b, exp.nvlinks, active),
            nominal_gbps=_nominal_gbps(a, b, active), evidence=evidence,
        ))
    if unseen:
        notes.append(f"{len(unseen)} GPU pair{'s' if len(unseen) != 1 else ''} not seen "
                     f"({next(iter(unseen.values()))}): their NVLink health is unknown")
    nic_index = {n.index: n for n in nics}
    for g in ordered_gpus:
        for n in sorted(nic_index):
            nic_path = nic_paths.get((g.index, n))
            if nic_path is None:
                continue
            links.append(Link(
                a=g.label, b=nic_index[n].label, path=nic_path, health=LinkHealth.OK,
                p2p=Unknown("not applicable to a NIC"), nominal_gbps=Unknown("NIC bandwidth not rated"),
            ))
    return tuple(links), tuple(notes)
