"""``spans()`` and ``traces()``: the local store as DataFrames.

Times are tz-aware UTC datetimes, durations milliseconds, token counts nullable integers
(``<NA>`` where a span reported none), ``attributes``/``events``/``tags``/``metadata``
Python objects decoded from the store's JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..store import LocalStore
from ._pandas import require_pandas

__all__ = ["SPAN_COLUMNS", "TRACE_COLUMNS", "spans", "traces"]

StoreLike = LocalStore | str | Path | None

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "duration_ms", "status", "error_type", "error_message", "error_class", "workflow", "node",
    "persona", "model", "provider", "input_tokens", "output_tokens", "total_tokens",
    "cached_input_tokens", "cache_creation_tokens", "reasoning_tokens", "tokens_estimated",
    "cost_usd", "input", "output", "attributes", "events", "tenant", "user_id", "session_id",
    "thread_id", "tags",
)  # fmt: skip
"""Columns of :func:`spans`, in order."""

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "workflow", "name", "start_time", "end_time", "duration_ms", "status",
    "span_count", "error_count", "input_tokens", "output_tokens", "total_tokens", "cost_usd",
    "tenant", "user_id", "session_id", "thread_id", "tags", "metadata",
)  # fmt: skip
"""Columns of :func:`traces`, in order."""

_INT_COLUMNS = (
    "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens",
    "cache_creation_tokens", "reasoning_tokens", "span_count", "error_count",
)  # fmt: skip


@contextmanager
def _opened(store: StoreLike) -> Iterator[LocalStore]:
    if isinstance(store, LocalStore):
        yield store
        return
    owned = LocalStore(store)
    try:
        yield owned
    finally:
        owned.close()


def _frame(pd: Any, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Any:
    df = pd.DataFrame(list(rows), columns=[*columns, "start_ns", "end_ns"])
    df["start_time"] = pd.to_datetime(df["start_ns"].astype("Int64"), unit="ns", utc=True)
    df["end_time"] = pd.to_datetime(df["end_ns"].astype("Int64"), unit="ns", utc=True)
    df["duration_ms"] = (
        (df["end_ns"].astype("Float64") - df["start_ns"].astype("Float64")) / 1e6
    ).astype("float64")
    for column in _INT_COLUMNS:
        if column in df:
            df[column] = df[column].astype("Int64")
    if "cost_usd" in df:
        df["cost_usd"] = df["cost_usd"].astype("float64")
    if "tokens_estimated" in df:
        df["tokens_estimated"] = df["tokens_estimated"].astype("boolean")
    return df[list(columns)]


def spans(store: StoreLike = None, *, trace_id: str | None = None) -> Any:
    """One row per span (columns :data:`SPAN_COLUMNS`), oldest first.

    Args:
        store: a :class:`~langgraph_observe.store.LocalStore`, a path, or None for the
            default store (``LANGGRAPH_OBSERVE_STORE`` or ``./.langgraph_observe/traces.db``).
        trace_id: only this trace's spans; a unique prefix of the id is enough.

    Raises:
        TraceNotFound: ``trace_id`` names no trace, or is the prefix of several.
    """
    with _opened(store) as s:
        return _trace_spans(s, None if trace_id is None else s.resolve_trace_id(trace_id))


def _trace_spans(store: LocalStore, trace_id: str | None) -> Any:
    """:func:`spans` of an already resolved (full) ``trace_id``, or of every trace."""
    return _frame(require_pandas(), store.spans(trace_id=trace_id), SPAN_COLUMNS)


def traces(
    store: StoreLike = None, *, limit: int | None = None, workflow: str | None = None
) -> Any:
    """One row per trace (columns :data:`TRACE_COLUMNS`), newest first.

    ``status`` is ``running`` for a trace whose root span has not landed yet (its
    ``end_time`` and ``duration_ms`` are null). Token and cost columns add up the trace's
    LLM and embedding spans.
    """
    pd = require_pandas()
    with _opened(store) as s:
        rows = s.traces(limit=limit, workflow=workflow)
    return _frame(pd, rows, TRACE_COLUMNS)
