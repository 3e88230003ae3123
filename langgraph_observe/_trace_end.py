"""How a trace's root ending settles the trace: whether the run paused (``interrupted``),
and the runs that never reported their end."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from . import semconv as sc
from ._run_memory import RunMemory
from ._spans import OpenSpan
from .events import ErrorClass, ErrorInfo, SpanStatus

__all__ = ["UNFINISHED", "close_orphans", "settle_root"]

#: the error of a run that never reported its end before its trace's root failed without
#: an error of its own (only when a caller ended the root as failed with no error)
UNFINISHED = ErrorInfo(
    "Unfinished", "the run's trace ended before the run reported its end", ErrorClass.UNKNOWN
)


def settle_root(span: OpenSpan, outputs: Any, memory: RunMemory) -> None:
    """A root that paused at an interrupt (and did not fail or get cancelled: an error of
    a parallel branch wins) is ``interrupted``, its thread remembered for the run that
    resumes it."""
    if span.status is SpanStatus.ERROR or span.status is SpanStatus.CANCELLED:
        return
    trace = span.trace
    if trace.interrupted or (type(outputs) is dict and "__interrupt__" in outputs):
        span.status = SpanStatus.INTERRUPTED
        span.attrs[sc.LG_INTERRUPTED] = True
        thread_id = trace.ctx.thread_id
        if thread_id is not None:
            memory.remember_interrupt(thread_id, trace.ctx.trace_id)


def close_orphans(
    root: OpenSpan,
    table: MutableMapping[int, OpenSpan],
    memory: RunMemory,
    emit: Callable[[OpenSpan], None],
) -> None:
    """End the runs of ``root``'s trace still in the open-run ``table`` (a model call cut
    off by a cancelled task reports no end: LangChain calls no callback for it), at the
    root's end time: failed with the root's error when the root failed, else cancelled.
    Each is remembered: a run its work starts later stays in this trace."""
    trace = root.trace
    value: Any
    if root.status is SpanStatus.ERROR:
        status, error = SpanStatus.ERROR, root.error or UNFINISHED
        key, value = sc.LG_ERROR_CLASS, error.error_class.value
    else:
        status, error = SpanStatus.CANCELLED, None
        key, value = sc.LG_CANCELLED, True
    for run in list(trace.runs):
        trace.runs.discard(run)
        orphan = table.get(run)
        if orphan is None:
            continue
        memory.remember_closed(run, orphan)  # before it leaves the open table
        if table.pop(run, None) is None or orphan.folded:
            continue
        orphan.end_ns = root.end_ns
        orphan.status, orphan.error = status, error
        orphan.attrs[key] = value
        emit(orphan)
