"""Fleet view: per-node reports merged into one cluster picture (docs/cluster.md)."""
