"""All-reduce benchmark. Only `worker` imports torch at module level; this package root never does."""
