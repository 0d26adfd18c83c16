"""One module per CLI command; each defines a click command and calls one use-case function."""
