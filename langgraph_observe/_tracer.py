"""Run bookkeeping: open spans keyed by LangChain run id, handed on when they end.

This is the core the adapters drive, on the graph's path. It is thread-safe (callbacks
arrive on executor and pool threads), bounded (``max_open_runs``; the oldest open run is
evicted and counted past it), and does no I/O. It does as little as it can: a start
files an :class:`~._spans.OpenSpan`; an end queues that span, as it is, for the
:class:`~.dispatch.Dispatcher`, whose thread builds its record (:mod:`._finish`). Only
when the hooks must see each end before the run goes on (budgets, gates:
:attr:`~._hooks.Hooks.on_path`) is the record built inside the callback.

Ids come from LangChain's run ids, with no system call: a root run's UUID is the trace
id; the low 64 bits of a run's UUID are its span id.

A run's work may outlive its span (see :mod:`._run_memory`): a run starting under a run
that already ended stays in that run's trace.
"""

from __future__ import annotations

import threading
import time
from asyncio import CancelledError
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from . import _guard
from . import semconv as sc
from ._finish import Finisher
from ._forksafe import renew_after_fork
from ._hooks import Hooks
from ._run_memory import RunMemory, Unpacked
from ._spans import LOW64, OpenSpan, Trace, as_uuid, first_of, str_or_none, trace_context
from ._trace_end import close_orphans, settle_root
from .dispatch import Dispatcher
from .errors import (
    ObserveControlError,
    bubbled_command,
    error_info,
    is_graph_bubble_up,
    is_graph_interrupt,
)
from .events import (
    ErrorInfo,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    WorkflowStarted,
)

__all__ = ["Hooks", "OpenSpan", "Tracer"]

_ROOT_KINDS = (SpanKind.NODE, SpanKind.SUBGRAPH, SpanKind.CHAIN)


class Tracer:
    """Turns start/end notifications of runs into :class:`SpanRecord` s.

    Args:
        dispatcher: where finished records go.
        hooks: extension points (personas, budgets, gates, cost).
        capture_io: keep inputs and outputs (rendered lazily, cut to ``max_payload_chars``).
        keep_plumbing: keep LangGraph's internal runs as spans instead of folding them.
        max_open_runs: bound of the open-run table.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        hooks: Hooks | None = None,
        *,
        capture_io: bool = True,
        max_payload_chars: int = 4000,
        keep_plumbing: bool = False,
        max_open_runs: int = 10_000,
    ) -> None:
        self.dispatcher = dispatcher
        self.emit = dispatcher.emit
        self.hooks = hooks or Hooks()
        self.capture_io = capture_io
        self.max_payload_chars = max_payload_chars
        self.keep_plumbing = keep_plumbing
        self.max_open_runs = max_open_runs
        self.finisher = Finisher(
            self.hooks, capture_io=capture_io, max_payload_chars=max_payload_chars
        )
        self.finisher.emit = self.emit
        dispatcher.unpack = self.finisher.unpack
        #: records built inside the callbacks (see :attr:`Hooks.on_path`)
        self.on_path = self.hooks.on_path
        #: keyed by the run id's integer: hashing a UUID calls Python code, an int does not
        self.open: dict[int, OpenSpan] = {}
        self._evict_lock = threading.Lock()
        renew_after_fork(self, "_evict_lock")
        #: threads left at an interrupt, runs whose work may go on after they ended
        self.ended = RunMemory()

    # -- bookkeeping --------------------------------------------------------------------
    @property
    def open_runs(self) -> int:
        """How many runs have started and not ended (0 once every run is over)."""
        return len(self.open)

    def get(self, run_id: UUID | str) -> OpenSpan | None:
        """The open span of ``run_id`` (None when it is not open)."""
        return self.open.get(as_uuid(run_id).int)

    def _put(self, run: int, span: OpenSpan) -> None:
        table = self.open
        if len(table) >= self.max_open_runs:
            with self._evict_lock:
                while len(table) >= self.max_open_runs:
                    try:
                        table.pop(next(iter(table)), None)
                    except (StopIteration, RuntimeError):
                        break
                    self.dispatcher.health.drop("tracer", "open_run_evicted")
        table[run] = span

    # -- starts -------------------------------------------------------------------------
    def start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: SpanKind,
        metadata: Mapping[str, Any] | None,
        tags: list[str] | None,
        inputs: Any = None,
    ) -> OpenSpan:
        """Open a span for ``run_id`` (a root run opens a new trace)."""
        try:
            run = run_id.int
            parent = self.open.get(parent_run_id.int) if parent_run_id is not None else None
        except AttributeError:  # ids given as text (config={"run_id": "..."})
            parent_id = None if parent_run_id is None else as_uuid(parent_run_id)
            return self.start(as_uuid(run_id), parent_id, name, kind, metadata, tags, inputs)
        if parent is None:
            late = None if parent_run_id is None else self.ended.closed.get(parent_run_id.int)
            if late is None:
                span = self._start_trace(run_id, name, kind, metadata or {}, tags, inputs)
            else:
                span = self._start_late(run, late, name, kind, metadata or {})
        elif kind is SpanKind.NODE:
            span = self._start_node(run, parent, name, metadata or {})
        else:
            span = OpenSpan(
                parent.trace, run & LOW64, parent.sid, name, kind, parent.node, parent.persona
            )
            if metadata:
                node = metadata.get("langgraph_node")
                if node is not None:
                    span.node = node
        if self.capture_io:
            span.input = inputs
        self._put(run, span)
        span.trace.runs.add(run)
        return span

    def _start_late(
        self, run: int, parent: OpenSpan, name: str, kind: SpanKind, meta: Mapping[str, Any]
    ) -> OpenSpan:
        """A run that starts under a run that already ended (cancelled, or closed with its
        trace's root) while its work went on: a span of that run's trace, under it."""
        if kind is SpanKind.NODE:
            span = self._start_node(run, parent, name, meta)
        else:
            span = OpenSpan(
                parent.trace, run & LOW64, parent.sid, name, kind, parent.node, parent.persona
            )
            node = meta.get("langgraph_node")
            if node is not None:
                span.node = node
        span.attrs[sc.LG_AFTER_PARENT_END] = True
        trace = span.trace
        if type(trace.finish) is not Unpacked:  # its spans' records keep its context
            trace.finish = Unpacked(self.finisher)
        return span

    def _start_trace(
        self,
        run_id: UUID,
        name: str,
        kind: SpanKind,
        meta: Mapping[str, Any],
        tags: list[str] | None,
        inputs: Any,
    ) -> OpenSpan:
        """Open a new trace rooted at ``run_id``. A graph or chain run is a ``workflow``
        span; a model, tool or retriever called on its own keeps its kind."""
        thread_id = first_of(meta, "thread_id")
        ctx = trace_context(run_id.hex, name, meta, tags)
        trace = Trace(ctx, self.emit, self.finisher)
        trace.root = sid = run_id.int & LOW64
        persona = str_or_none(first_of(meta, "persona", "langgraph_observe_persona"))
        if kind in _ROOT_KINDS:
            kind = SpanKind.WORKFLOW
        span = OpenSpan(trace, sid, None, name, kind, None, persona)
        if not self.on_path:
            self.finisher.trace_started(trace)
        trace.last_persona = persona
        if thread_id is not None:
            span.attrs[sc.LG_THREAD_ID] = ctx.thread_id
            if type(inputs).__name__ == "Command":
                resumed = self.ended.resumed(str(thread_id))
                if resumed is not None:
                    span.attrs[sc.LG_RESUMED_FROM] = resumed
        if kind is SpanKind.WORKFLOW:
            self.emit(WorkflowStarted(ctx, span.span_id, name, span.start_ns))
        return span

    def _start_node(
        self, run: int, parent: OpenSpan, name: str, meta: Mapping[str, Any]
    ) -> OpenSpan:
        """A graph node's span: LangGraph's step, triggers and checkpoint namespace, the
        attempt number, and its persona."""
        node = meta.get("langgraph_node") or parent.node
        persona = first_of(meta, "persona", "langgraph_observe_persona")
        inherited = False
        if persona is None:
            try:
                persona = self.hooks.persona_for(node, meta)
            except Exception as exc:  # a hook's error costs its answer, not the span
                _guard.report("Hooks.persona_for", exc)
            if persona is None:
                persona = parent.persona
                inherited = persona is not None
        trace = parent.trace
        span = OpenSpan(trace, run & LOW64, parent.sid, name, SpanKind.NODE, node, persona)
        if inherited:  # a subgraph's node: its own @persona may still name it
            span.persona_inherited = True
        attrs = span.attrs
        step = meta.get("langgraph_step")
        if step is not None:
            attrs[sc.LG_STEP] = step
        span.params = meta.get("langgraph_triggers")  # a list attribute, made later
        ns = meta.get("langgraph_checkpoint_ns")
        if ns:
            attrs[sc.LG_CHECKPOINT_NS] = ns
        # Runs of one key never overlap (a retry starts after the failed attempt ended),
        # so the count needs no lock.
        key = (parent.sid, ns or (name, step))
        attempts = trace.attempts
        attempt = attempts[key] = attempts.get(key, 0) + 1
        attrs[sc.LG_ATTEMPT] = attempt
        if parent.kind is SpanKind.CHAIN and parent.node is not None:  # a graph in a node
            parent.kind = SpanKind.SUBGRAPH
        if span.persona is not None:
            span.enter_persona(self.emit)
        return span

    def fold(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        """Record ``run_id`` as plumbing: its children attach to its parent."""
        if type(run_id) is not UUID or (
            parent_run_id is not None and type(parent_run_id) is not UUID
        ):
            run_id = as_uuid(run_id)
            parent_run_id = None if parent_run_id is None else as_uuid(parent_run_id)
        parent = self.open.get(parent_run_id.int) if parent_run_id is not None else None
        if parent is not None:
            self._put(run_id.int, parent.alias())
            parent.trace.runs.add(run_id.int)
        elif parent_run_id is not None:
            late = self.ended.closed.get(parent_run_id.int)
            if late is not None:  # under an ended run: its children attach to that run
                self.ended.remember_closed(run_id.int, late)

    # -- LangGraph's lifecycle ----------------------------------------------------------
    def paused(self, run_id: UUID | None) -> None:
        """The graph run ``run_id`` paused (an interrupt, or a static breakpoint): its trace
        ends ``interrupted`` unless it failed or was cancelled."""
        span = self.get(run_id) if run_id is not None else None
        if span is not None:
            span.trace.interrupted = True

    def resuming(self, run_id: UUID | None) -> None:
        """The graph run ``run_id`` resumes a paused run from its checkpoint: a root is
        linked to the trace that paused on its thread (when not linked already)."""
        span = self.get(run_id) if run_id is not None else None
        if span is None or span.parent_sid is not None or sc.LG_RESUMED_FROM in span.attrs:
            return
        thread_id = span.trace.ctx.thread_id
        resumed = self.ended.resumed(thread_id) if thread_id is not None else None
        if resumed is not None:
            span.attrs[sc.LG_RESUMED_FROM] = resumed

    # -- ends ---------------------------------------------------------------------------
    def end(
        self,
        run_id: UUID,
        outputs: Any = None,
        *,
        status: SpanStatus = SpanStatus.OK,
        error: ErrorInfo | None = None,
        usage: TokenUsage | None = None,
        extra: Mapping[str, Any] | None = None,
        late: Callable[[OpenSpan], None] | None = None,
    ) -> SpanRecord | None:
        """Close the span of ``run_id`` and hand it on. ``late`` reads what ``outputs``
        hold into the span when its record is built (off the graph's path unless
        :attr:`on_path`). Returns the record when it was built on the graph's path, else
        None (as for folded or unknown runs)."""
        try:
            run = run_id.int
        except AttributeError:  # an id given as text
            run = as_uuid(run_id).int
        span = self.open.pop(run, None)
        if span is None:
            self.ended.forget_closed(run)  # a run closed before its end: its work is over
            return None
        span.trace.runs.discard(run)
        if span.folded:
            return None
        span.end_ns = time.time_ns()
        span.late = late
        if extra:
            span.attrs.update(extra)
        if usage is not None:
            span.usage = usage
        if status is not SpanStatus.OK:
            span.status = status
            span.error = error
        if span.parent_sid is None:
            settle_root(span, outputs, self.ended)
            if span.trace.runs:
                close_orphans(span, self.open, self.ended, self._emit_ended)
        span.output = outputs
        if self.on_path:
            record = self._record_on_path(span)
            if record is not None:
                self.emit(record)
                self.hooks.after_span(record, outputs, self.emit)
            return record
        self.emit(span)  # packed within PACK_INTERVAL_S, its record built later
        return None

    def _record_on_path(self, span: OpenSpan) -> SpanRecord | None:
        """The record of ``span`` built in the callback; a hook that fails there loses the
        record, which is counted as dropped (``finish_error``), as on the dispatcher's
        thread (under ``LANGGRAPH_OBSERVE_STRICT=1`` the error is raised)."""
        try:
            return self.finisher(span)
        except ObserveControlError:
            raise
        except Exception as exc:
            if _guard.strict():
                raise
            dispatcher = self.dispatcher
            for sink in dispatcher.sinks:
                dispatcher.health.drop(sink.name, "finish_error")
            _guard.report("building a record", exc)
            return None

    def _emit_ended(self, span: OpenSpan) -> None:
        """Hand on a span the tracer itself ended (as :meth:`end` would)."""
        if not self.on_path:
            self.emit(span)
            return
        record = self._record_on_path(span)
        if record is not None:
            self.emit(record)

    def fail(self, run_id: UUID, exc: BaseException) -> SpanRecord | None:
        """Close the span of ``run_id`` for an exception (interrupts are not errors)."""
        if type(run_id) is not UUID:  # an id given as text
            run_id = as_uuid(run_id)
        span = self.open.get(run_id.int)
        if span is None:
            self.ended.forget_closed(run_id.int)
            return None
        if isinstance(exc, GeneratorExit):  # the caller stopped reading a stream: no error
            if not span.folded:
                span.attrs[sc.LG_STREAM_CLOSED] = True
            return self.end(run_id)
        if isinstance(exc, CancelledError):  # stopped from outside: not a failure
            if not span.folded:
                span.attrs[sc.LG_CANCELLED] = True
            # a sync run in a thread goes on after its task was cancelled, and may start
            # runs: they attach to this span
            self.ended.remember_closed(run_id.int, span)
            return self.end(run_id, status=SpanStatus.CANCELLED)
        if is_graph_bubble_up(exc):
            if is_graph_interrupt(exc):
                span.trace.interrupted = True
                if not span.folded:
                    span.attrs[sc.LG_INTERRUPTED] = True
                return self.end(run_id, status=SpanStatus.INTERRUPTED)
            # other control flow (a Command to the parent graph, ...): no error; the
            # command, if any, is what the run returned
            if not span.folded:
                span.attrs[sc.LG_BUBBLE_UP] = type(exc).__name__
            return self.end(run_id, bubbled_command(exc))
        info = error_info(exc)
        if not span.folded:
            span.attrs[sc.LG_ERROR_CLASS] = info.error_class.value
        return self.end(run_id, status=SpanStatus.ERROR, error=info)
