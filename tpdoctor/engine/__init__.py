"""The rules engine: rule files (loader), the documented facts they read (schema), CEL conditions,
message templates, evaluation into findings, and the generated catalogue docs.

It knows no scope's facts: the node, deployment and fleet packages define their schemas and facts and
hand them in.
"""
