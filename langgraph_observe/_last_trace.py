"""``ObservedWorkflow.last_trace_id`` per context: the trace id of the last run each
workflow instance started in this thread or asyncio task."""

from __future__ import annotations

import contextvars
import itertools

__all__ = ["new_key", "recall", "remember"]

# The last trace id per workflow instance, per context (thread, asyncio task): a mapping
# replaced, never changed, on each run (contexts copied from this one share it), holding the
# instances that ran in this context most recently (at most _KEEP of them).
_last_traces: contextvars.ContextVar[dict[int, str | None]] = contextvars.ContextVar(
    "langgraph_observe_last_traces"
)
_KEEP = 64
_instance_keys = itertools.count(1)  # not id(): a new instance may reuse a dropped one's id


def new_key() -> int:
    """A key for one workflow instance (not ``id()``: a new instance may reuse a dropped
    one's id)."""
    return next(_instance_keys)


def recall(key: int, otherwise: str | None) -> str | None:
    """The trace id instance ``key`` last started in this context, else ``otherwise``."""
    mine = _last_traces.get(None)
    if mine is not None and key in mine:
        return mine[key]
    return otherwise


def remember(key: int, trace_id: str | None) -> None:
    """Instance ``key`` started the run of ``trace_id`` in this context."""
    mine = {k: v for k, v in (_last_traces.get(None) or {}).items() if k != key}
    mine[key] = trace_id  # last: the most recent
    while len(mine) > _KEEP:
        del mine[next(iter(mine))]
    _last_traces.set(mine)  # a new dict: the contexts sharing the old one keep theirs
