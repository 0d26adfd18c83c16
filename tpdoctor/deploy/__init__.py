"""Checking TP deployments against a node: assessment (group, paths, memory, costs), the deployment-scope
facts for the rules, cross-node groups, the check use case and `--fix`."""
