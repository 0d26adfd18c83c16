"""Advice from numbers: the decode cost model (per-token latency, all-reduce cost, throughput) and the
placement search for the best GPU group."""
