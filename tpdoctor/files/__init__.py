"""Files other programs read or that we read from others: atomic replacement, locks, bounded reads."""
