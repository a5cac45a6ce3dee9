"""Conformance harness for self-hosted Kubernetes clusters.

Data flows one way: topology file -> Topology -> Provisioner.create -> Lab
-> setups.apply -> Target -> suites -> results -> reports.
"""
