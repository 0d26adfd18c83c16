"""Probes read the machine (NVML, nvidia-smi) or a capture of it, and return a Topology."""
