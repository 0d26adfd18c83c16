"""nvidia-smi parsers: pure functions from captured text to the plain data of `smi_types`.

Each parser accepts text as users capture it (prompts, command echoes, CRLF, ANSI escapes,
author elisions, several commands in one paste) and raises `tpdoctor.model.errors.ParseError` naming the
source, the line and what was expected when the text is not what it claims to be. What a parser
had to recover from is written into the result's `notes`, never silently guessed.
"""

from __future__ import annotations

from tpdoctor.probes.smi_nvlink import parse_nvlink_caps, parse_nvlink_errors, parse_nvlink_status
from tpdoctor.probes.smi_p2p import parse_topo_p2p, parse_topo_p2p_all
from tpdoctor.probes.smi_query import FIELDS as QUERY_GPU_FIELDS
from tpdoctor.probes.smi_query import parse_query_gpu
from tpdoctor.probes.smi_topo import parse_topo_m

__all__ = [
    "QUERY_GPU_FIELDS",
    "parse_nvlink_caps",
    "parse_nvlink_errors",
    "parse_nvlink_status",
    "parse_query_gpu",
    "parse_topo_m",
    "parse_topo_p2p",
    "parse_topo_p2p_all",
]
