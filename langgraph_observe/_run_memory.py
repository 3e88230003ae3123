"""What the tracer remembers of runs that ended, in two bounded tables (oldest forgotten
first), read only off the common path:

* the threads a run left at an interrupt, so that the run resuming one (a ``Command``
  input on the same ``thread_id``) is linked to it;
* runs whose work may go on after their span ended: a sync node of an async graph runs in
  a thread that outlives its cancelled task, and a run still open when its trace's root
  ends is closed with the trace. A run starting under one of them later is a span of that
  trace, under that run (marked ``langgraph.after_parent_end``), not a trace of its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._finish import Finisher
from ._forksafe import renew_after_fork
from ._spans import OpenSpan
from .events import SpanRecord

__all__ = ["MAX_CLOSED_RUNS", "MAX_INTERRUPTED_THREADS", "RunMemory", "Unpacked"]

#: threads left at an interrupt that are remembered
MAX_INTERRUPTED_THREADS = 10_000
#: ended runs whose work may still start runs that are remembered
MAX_CLOSED_RUNS = 4096


class Unpacked:
    """The ``finish`` of a trace whose work goes on after its root ended: its spans wait
    for the sinks as they are, not packed, so each record is built from its span's own
    trace (a packed span finds its trace by its root's id, and the :class:`Finisher`
    keeps only the most recent roots' traces once their records are built)."""

    __slots__ = ("finisher",)

    def __init__(self, finisher: Finisher) -> None:
        self.finisher = finisher

    def pack(self, span: OpenSpan) -> OpenSpan:
        return span

    def __call__(self, span: OpenSpan) -> SpanRecord:
        return self.finisher(span)


class RunMemory:
    """The two tables; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        #: thread id -> the trace id of the run that stopped at an interrupt
        self.interrupted: OrderedDict[str, str] = OrderedDict()
        #: run id -> a stand-in of the ended span a late child attaches to
        self.closed: OrderedDict[int, OpenSpan] = OrderedDict()

    def remember_interrupt(self, thread_id: str, trace_id: str) -> None:
        with self._lock:
            table = self.interrupted
            table[thread_id] = trace_id
            table.move_to_end(thread_id)
            while len(table) > MAX_INTERRUPTED_THREADS:
                table.popitem(last=False)

    def resumed(self, thread_id: str) -> str | None:
        """The trace a run on ``thread_id`` resumes (forgotten once asked)."""
        with self._lock:
            return self.interrupted.pop(thread_id, None)

    def remember_closed(self, run: int, span: OpenSpan) -> None:
        """Keep a stand-in of ``span`` (ids, trace, node, persona; no payloads) for the
        runs that may start under ``run`` after it ended."""
        stand_in = span if span.folded else span.alias()
        with self._lock:
            table = self.closed
            table[run] = stand_in
            while len(table) > MAX_CLOSED_RUNS:
                table.popitem(last=False)

    def forget_closed(self, run: int) -> None:
        """``run`` reported its end: its work is over."""
        if self.closed:
            with self._lock:
                self.closed.pop(run, None)
