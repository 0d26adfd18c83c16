"""All-reduce benchmark. Only `worker` and `runner` import torch; this package root must not."""
