"""``score()``: attach user feedback or an evaluation to a finished (or running) trace.

>>> from langgraph_observe import score
>>> score(trace_id, "helpful", True, "answered in one go", handler=handler)
>>> score(trace_id, "faithfulness", 0.92, span_id=llm_span_id, source="eval", handler=handler)

With ``handler`` the score goes through that handler's sinks like every other record (the
local store, Langfuse as a score, ...). Without one it is written straight into the local
store (the ``store_path`` setting), synchronously: call it from application code, not from
inside a node.
"""

from __future__ import annotations

import time
from typing import Any

from .config_file import configured_settings
from .events import ScoreRecord

__all__ = ["score"]

_SOURCES = ("api", "feedback", "eval", "gate")


def score(
    trace_id: str,
    name: str,
    value: float | str | bool,
    comment: str | None = None,
    *,
    span_id: str | None = None,
    handler: Any = None,
    source: str = "api",
) -> ScoreRecord:
    """Record a score named ``name`` on trace ``trace_id`` (or one of its spans).

    Args:
        trace_id: 32 hex digits (the workflow's trace id).
        value: a number, a bool or a category string.
        comment: free text (a reason, the user's words).
        span_id: score one span rather than the whole trace.
        handler: the :class:`~langgraph_observe.CallbackHandler` (or ``ObservedWorkflow``)
            whose sinks receive it; default: the local store, written now.
        source: ``api``, ``feedback`` or ``eval``.
    """
    if not isinstance(trace_id, str) or len(trace_id) != 32 or not _is_hex(trace_id):
        raise ValueError(f"trace_id must be 32 hex digits, got {trace_id!r}")
    if not name:
        raise ValueError("a score needs a name")
    if not isinstance(value, (bool, int, float, str)):
        raise TypeError(f"score value must be a number, a bool or a string, got {value!r}")
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
    record = ScoreRecord(
        trace_id=trace_id.lower(),
        name=name,
        value=value if isinstance(value, (bool, str)) else float(value),
        time_ns=time.time_ns(),
        span_id=span_id,
        comment=comment,
        source=source,
    )
    dispatcher = getattr(handler, "dispatcher", None)
    if dispatcher is None and handler is not None:
        dispatcher = getattr(getattr(handler, "handler", None), "dispatcher", None)
    if dispatcher is not None:
        dispatcher.emit(record)
        return record
    from .store.writer import StoreWriter

    writer = StoreWriter(configured_settings().store_path)
    try:
        writer.write([record])
    finally:
        writer.close()
    return record


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex(text: str) -> bool:
    return _HEX_DIGITS.issuperset(text)
