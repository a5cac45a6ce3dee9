"""Conformance harness for self-hosted Kubernetes clusters.

Data flows one way: topology file -> Topology -> Provisioner.create -> Lab
-> Setup.apply -> Target -> suites -> results -> reports.
"""
