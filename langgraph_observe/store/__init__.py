"""The embedded local store: one SQLite file of spans, traces, scores and budget state.

:class:`LocalStore` reads it (CLI, ``explore``, analytics, budgets);
:class:`~langgraph_observe.sinks.local.LocalStoreSink` writes it; :func:`prune` removes old
traces from it. See ``docs/local-store.md``.
"""

from __future__ import annotations

from .reader import LocalStore, TraceNotFound
from .retention import PruneResult, prune
from .schema import SCHEMA_VERSION, StoreSchemaError
from .writer import StoreWriter

__all__ = [
    "SCHEMA_VERSION",
    "LocalStore",
    "PruneResult",
    "StoreSchemaError",
    "StoreWriter",
    "TraceNotFound",
    "prune",
]
