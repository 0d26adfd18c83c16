"""Judging one node: its facts for the node rules, drift from its baseline, the verdict, and the health
check that cron and monitoring run."""
