"""Sinks: one module per backend. Import a backend's sink from its module, e.g.
``from langgraph_observe.sinks.local import LocalStoreSink``; nothing here imports a backend."""

from .base import BaseSink, Sink

__all__ = ["BaseSink", "Sink"]
