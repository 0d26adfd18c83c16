"""The TP groups running on the node now: found from its processes, judged as deployments (docs/running.md)."""
