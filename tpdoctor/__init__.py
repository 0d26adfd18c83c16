"""tpdoctor: GPU-topology and NVLink doctor for tensor-parallel LLM inference."""

__version__ = "0.1.0"
SCHEMA = "tpdoctor/v1"
