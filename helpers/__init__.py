"""Helpers for the course "How Kubernetes authenticates internal access".

Notebooks import from here; everything a learner should not have to read to learn
the lesson lives in this package and is unit-tested.
"""
