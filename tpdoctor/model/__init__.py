"""The data model and the `tpdoctor/v1` contract: topology, links and their expectations, SKUs, unknown
values, benchmark results as data, deployments, findings and the JSON codec.

The bottom of the house: it imports nothing of tpdoctor's but itself (see docs/architecture.md).
"""
