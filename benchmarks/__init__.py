"""Benchmarks of langgraph-observe against its peers: ``python -m benchmarks``."""
