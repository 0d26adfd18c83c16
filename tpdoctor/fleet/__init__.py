"""Fleet view: per-node reports merged into one cluster picture (DESIGN §9)."""
