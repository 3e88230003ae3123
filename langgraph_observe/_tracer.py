"""Run bookkeeping: open spans keyed by LangChain run id, turned into records when they end.

This is the core the adapters drive. It is thread-safe (callbacks arrive on executor and
pool threads), bounded (``max_open_runs``; the oldest open run is evicted and counted
past it), and does no I/O: finished records go to the :class:`~.dispatch.Dispatcher`.

Ids come from LangChain's run ids, with no system call: a root run's UUID is the trace
id; the low 64 bits of a run's UUID are its span id.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from . import semconv as sc
from ._hooks import Hooks
from .dispatch import Dispatcher
from .errors import error_info, is_graph_bubble_up, is_graph_interrupt
from .events import (
    ErrorInfo,
    Payload,
    PersonaSwitch,
    Record,
    SpanEvent,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
    WorkflowStarted,
)

__all__ = ["Hooks", "OpenSpan", "Tracer"]

_LOW64 = (1 << 64) - 1
_MAX_INTERRUPTED_THREADS = 10_000


class _Trace:
    """State shared by the open spans of one trace."""

    __slots__ = ("attempts", "ctx", "emit", "interrupted", "last_persona", "lock")

    def __init__(self, ctx: TraceContext, emit: Callable[[Record], None]) -> None:
        self.ctx = ctx
        self.emit = emit  #: where the trace's records go (hooks may emit records too)
        self.attempts: dict[Any, int] = {}
        self.interrupted = False
        self.last_persona: str | None = None
        self.lock = threading.Lock()


class OpenSpan:
    """A span that has started and not ended (mutable, private to the tracer and hooks)."""

    __slots__ = (
        "attrs",
        "events",
        "first_token_ns",
        "folded",
        "input",
        "kind",
        "model",
        "name",
        "node",
        "parent_span_id",
        "persona",
        "provider",
        "span_id",
        "start_ns",
        "trace",
    )

    def __init__(
        self,
        trace: _Trace,
        span_id: str,
        parent_span_id: str | None,
        name: str,
        kind: SpanKind,
        node: str | None,
        persona: str | None,
    ) -> None:
        self.trace = trace
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.kind = kind
        self.node = node
        self.persona = persona
        self.start_ns = time.time_ns()
        self.attrs: dict[str, Any] = {}
        self.events: list[SpanEvent] | None = None
        self.input: Payload | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.first_token_ns: int | None = None
        self.folded = False

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        if self.events is None:
            self.events = []
        self.events.append(SpanEvent(name, time.time_ns(), attributes or {}))

    @property
    def ctx(self) -> TraceContext:
        return self.trace.ctx


def _span_id(run_id: UUID) -> str:
    return f"{run_id.int & _LOW64:016x}"


def _first(meta: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = meta.get(k)
        if v is not None:
            return v
    return None


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
        #: keyed by the run id's integer: hashing a UUID calls Python code, an int does not
        self._open: dict[int, OpenSpan] = {}
        self._evict_lock = threading.Lock()
        self._interrupted_threads: OrderedDict[str, str] = OrderedDict()

    # -- bookkeeping --------------------------------------------------------------------
    @property
    def open_runs(self) -> int:
        """How many runs have started and not ended (0 once every run is over)."""
        return len(self._open)

    def get(self, run_id: UUID) -> OpenSpan | None:
        return self._open.get(run_id.int)

    def _put(self, run_id: UUID, span: OpenSpan) -> None:
        if len(self._open) >= self.max_open_runs:
            with self._evict_lock:
                while len(self._open) >= self.max_open_runs:
                    try:
                        oldest = next(iter(self._open))
                        self._open.pop(oldest, None)
                    except (StopIteration, RuntimeError):
                        break
                    self.dispatcher.health.drop("tracer", "open_run_evicted")
        self._open[run_id.int] = span

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
        meta = metadata or {}
        parent = self._open.get(parent_run_id.int) if parent_run_id is not None else None
        if parent is None:
            span = self._start_trace(run_id, name, kind, meta, tags, inputs)
        else:
            node = meta.get("langgraph_node") or parent.node
            persona = parent.persona
            if kind is SpanKind.NODE:
                hook_persona = _first(meta, "persona", "langgraph_observe_persona")
                if hook_persona is None:
                    hook_persona = self.hooks.persona_for(node, meta)
                if hook_persona is not None:
                    persona = hook_persona
            span = OpenSpan(
                parent.trace, _span_id(run_id), parent.span_id, name, kind, node, persona
            )
            if kind is SpanKind.NODE:
                self._node_started(span, parent, meta)
        if self.capture_io and inputs is not None:
            span.input = Payload(inputs, self.max_payload_chars)
        self._put(run_id, span)
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
        thread_id = _first(meta, "thread_id")
        ctx = TraceContext(
            trace_id=run_id.hex,
            workflow=name,
            tenant=_str_or_none(_first(meta, "tenant", "tenant_id")),
            user_id=_str_or_none(_first(meta, "user_id", "langfuse_user_id")),
            session_id=_str_or_none(_first(meta, "session_id", "langfuse_session_id")),
            thread_id=_str_or_none(thread_id),
            tags=tuple(tags or ()),
            metadata=meta,
        )
        trace = _Trace(ctx, self.emit)
        persona = _str_or_none(_first(meta, "persona", "langgraph_observe_persona"))
        if kind in (SpanKind.NODE, SpanKind.SUBGRAPH, SpanKind.CHAIN):
            kind = SpanKind.WORKFLOW
        span = OpenSpan(trace, _span_id(run_id), None, name, kind, None, persona)
        trace.last_persona = persona
        if thread_id is not None:
            span.attrs[sc.LG_THREAD_ID] = ctx.thread_id
            if type(inputs).__name__ == "Command":
                resumed = self._interrupted_threads.pop(str(thread_id), None)
                if resumed is not None:
                    span.attrs[sc.LG_RESUMED_FROM] = resumed
        if kind is SpanKind.WORKFLOW:
            self.emit(WorkflowStarted(ctx, span.span_id, name, span.start_ns))
        return span

    def _node_started(self, span: OpenSpan, parent: OpenSpan, meta: Mapping[str, Any]) -> None:
        attrs = span.attrs
        step = meta.get("langgraph_step")
        if step is not None:
            attrs[sc.LG_STEP] = step
        triggers = meta.get("langgraph_triggers")
        if triggers:
            attrs[sc.LG_TRIGGERS] = list(triggers)
        ns = meta.get("langgraph_checkpoint_ns")
        if ns:
            attrs[sc.LG_CHECKPOINT_NS] = ns
        trace = span.trace
        key = (parent.span_id, ns or (span.name, step))
        with trace.lock:
            attempt = trace.attempts.get(key, 0) + 1
            trace.attempts[key] = attempt
            previous = trace.last_persona
            if span.persona is not None:
                trace.last_persona = span.persona
        attrs[sc.LG_ATTEMPT] = attempt
        if parent.kind is SpanKind.CHAIN:  # a graph run nested in a node
            parent.kind = SpanKind.SUBGRAPH
        if span.persona is not None:
            attrs[sc.LG_PERSONA] = span.persona
            if previous is not None and previous != span.persona:
                span.add_event("persona_switch", {"from": previous, "to": span.persona})
                self.emit(
                    PersonaSwitch(
                        trace.ctx.trace_id,
                        trace.ctx.workflow,
                        previous,
                        span.persona,
                        span.start_ns,
                        span.span_id,
                        trace.ctx.tenant,
                    )
                )

    def fold(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        """Record ``run_id`` as plumbing: its children attach to its parent."""
        parent = self._open.get(parent_run_id.int) if parent_run_id is not None else None
        if parent is None:
            return
        alias = OpenSpan(
            parent.trace,
            parent.span_id,
            parent.parent_span_id,
            parent.name,
            parent.kind,
            parent.node,
            parent.persona,
        )
        alias.folded = True
        self._put(run_id, alias)

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
    ) -> SpanRecord | None:
        """Close the span of ``run_id`` and emit its record (None for folded/unknown runs)."""
        span = self._open.pop(run_id.int, None)
        if span is None or span.folded:
            return None
        attrs = span.attrs
        if extra:
            attrs.update(extra)
        cost = None
        if span.kind is SpanKind.LLM or span.kind is SpanKind.EMBEDDING:
            if usage is None and span.kind is SpanKind.LLM:
                usage = self.hooks.estimate_usage(span, outputs)
            cost = self.hooks.finish_llm(span, usage)
            if span.first_token_ns is not None:
                attrs[sc.LG_TIME_TO_FIRST_TOKEN] = (span.first_token_ns - span.start_ns) / 1e9
        trace = span.trace
        if span.parent_span_id is None and (
            trace.interrupted or (isinstance(outputs, Mapping) and "__interrupt__" in outputs)
        ):
            status = SpanStatus.INTERRUPTED
            attrs[sc.LG_INTERRUPTED] = True
            if trace.ctx.thread_id is not None:
                self._remember_interrupt(trace.ctx.thread_id, trace.ctx.trace_id)
        self.hooks.finish_span(span, outputs, status)
        record = SpanRecord(
            trace=trace.ctx,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=span.name,
            kind=span.kind,
            start_ns=span.start_ns,
            end_ns=time.time_ns(),
            status=status,
            error=error,
            node=span.node,
            persona=span.persona,
            model=span.model,
            provider=span.provider,
            usage=usage,
            cost_usd=cost,
            input=span.input,
            output=Payload(outputs, self.max_payload_chars)
            if self.capture_io and outputs is not None
            else None,
            attributes=attrs,
            events=tuple(span.events) if span.events else (),
        )
        self.emit(record)
        self.hooks.after_span(record, outputs, self.emit)
        return record

    def fail(self, run_id: UUID, exc: BaseException) -> SpanRecord | None:
        """Close the span of ``run_id`` for an exception (interrupts are not errors)."""
        span = self._open.get(run_id.int)
        if span is None:
            return None
        if is_graph_bubble_up(exc):
            if is_graph_interrupt(exc):
                span.trace.interrupted = True
                if not span.folded:
                    span.attrs[sc.LG_INTERRUPTED] = True
                return self.end(run_id, status=SpanStatus.INTERRUPTED)
            return self.end(run_id)
        info = error_info(exc)
        if not span.folded:
            span.attrs[sc.LG_ERROR_CLASS] = info.error_class.value
        return self.end(run_id, status=SpanStatus.ERROR, error=info)

    def _remember_interrupt(self, thread_id: str, trace_id: str) -> None:
        with self._evict_lock:
            self._interrupted_threads[thread_id] = trace_id
            self._interrupted_threads.move_to_end(thread_id)
            while len(self._interrupted_threads) > _MAX_INTERRUPTED_THREADS:
                self._interrupted_threads.popitem(last=False)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
