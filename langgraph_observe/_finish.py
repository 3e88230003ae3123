"""Ended open spans become records: usage estimates, cost, late attributes, payloads.

This runs once per span, on the dispatcher's thread — off the graph's path — unless the
hooks ask for it on the path (budgets must count a call before the next one starts;
gates may stop the run). Either way the same :class:`Finisher` builds the record.

**Packed spans.** What waits in the dispatcher's queue for up to a flush interval must
not be a web of Python objects: the garbage collector would promote it to its oldest
generation and, every ~25,000 promotions, walk the whole heap. So an ended span usually
waits as one flat tuple of strings, numbers and ``marshal`` bytes (:meth:`Finisher.pack`),
which the collector stops tracking at its next pass; its inputs and outputs stay bytes
until a sink reads their text. The trace's state (its :class:`~._spans.Trace`) stays in
:attr:`Finisher.traces`, keyed by the root's span id, until the root's record is built.
"""

from __future__ import annotations

import marshal
import threading
from collections import OrderedDict
from typing import Any

from ._forksafe import renew_after_fork
from ._frozen import maker
from ._hooks import Hooks
from ._render import Unplain, plain_copy
from ._spans import OpenSpan, Trace, hex_id
from .events import (
    MARSHALLED,
    PLAIN_COPY,
    ErrorClass,
    ErrorInfo,
    Payload,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
)
from .semconv import CONTENT_ATTRIBUTES, LG_TIME_TO_FIRST_TOKEN, LG_TRIGGERS

__all__ = ["Finisher"]

_ATOMS = frozenset({str, int, float, bool, type(None)})
_KINDS = {k.value: k for k in SpanKind}
_STATUSES = {s.value: s for s in SpanStatus}
_ERROR_CLASSES = {c.value: c for c in ErrorClass}
_new_span_record = maker(SpanRecord)
_new_usage = maker(TokenUsage)
#: contexts of traces whose root record was built, for spans that end after their root
_RECENT = 64
#: bound of the open-trace table (roots that never end are forgotten, oldest first)
_MAX_OPEN_TRACES = 100_000


class Finisher:
    """Builds the :class:`SpanRecord` of an ended :class:`OpenSpan`.

    Args:
        hooks: cost, usage estimates and gates (``estimate_usage``, ``finish_llm``,
            ``finish_span``).
        capture_io: keep inputs and outputs as payloads.
        max_payload_chars: the payloads' text limit.
    """

    def __init__(self, hooks: Hooks, *, capture_io: bool, max_payload_chars: int) -> None:
        self.hooks = hooks
        self.capture_io = capture_io
        self.max_payload_chars = max_payload_chars
        self.emit: Any = None  #: where records go (set by the tracer)
        #: traces by the root's span id, while the root's record is not built
        self.traces: dict[int, Trace] = {}
        self._recent: OrderedDict[int, Trace] = OrderedDict()
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")

    # -- on the graph's path -------------------------------------------------------------
    def trace_started(self, trace: Trace) -> None:
        """Keep ``trace`` for its packed spans, until its root's record is built."""
        traces = self.traces
        if len(traces) >= _MAX_OPEN_TRACES:
            with self._lock:
                while len(traces) >= _MAX_OPEN_TRACES:
                    traces.pop(next(iter(traces)), None)
        traces[trace.root] = trace

    def pack(self, span: OpenSpan) -> Any:
        """The ended ``span`` as a flat tuple the garbage collector need not track, or the
        span itself when something in it has no plain form (events, a large or unusual
        payload or attribute) or when a model call's usage must be estimated from its
        live prompts and answer. Runs on the dispatcher's thread, soon after the span
        ended."""
        _read_late(span)
        if not self.capture_io:
            span.input = None
            if span.kind is not SpanKind.LLM or span.usage is not None:
                span.output = None  # kept only for a usage estimate
        if span.events or (span.kind is SpanKind.LLM and span.usage is None):
            return span
        try:
            inp, inp_packed = _pack_io(span.input)
            out, out_packed = _pack_io(span.output)
            usage, error = span.usage, span.error
            extras = marshal.dumps(
                (
                    span.attrs,
                    None if usage is None else _usage_fields(usage),
                    None if error is None else (error.type, error.message, error.error_class.value),
                    span.params,
                )
            )
        except ValueError:  # not plain Python values: the span waits as it is
            return span
        return (
            span.trace.root,
            span.sid,
            span.parent_sid,
            span.name,
            span.kind._value_,
            span.node,
            span.persona,
            span.start_ns,
            span.end_ns,
            span.status._value_,
            span.model,
            span.provider,
            span.first_token_ns,
            inp,
            inp_packed,
            out,
            out_packed,
            extras,
        )

    # -- on the dispatcher's thread (or on the path, with Hooks.on_path) -----------------
    def unpack(self, item: tuple[Any, ...]) -> SpanRecord:
        """The record of a span :meth:`pack` made into a tuple."""
        (root, sid, parent, name, kind, node, persona, start, end, status, model, provider,
         first_token, inp, inp_packed, out, out_packed, extras) = item  # fmt: skip
        attrs, usage, error, params = marshal.loads(extras)
        span = OpenSpan.__new__(OpenSpan)
        span.trace = trace = self._trace(root, parent is None)
        span.sid, span.parent_sid, span.name = sid, parent, name
        span.kind, span.node, span.persona = _KINDS[kind], node, persona
        span.start_ns, span.end_ns, span.status = start, end, _STATUSES[status]
        span.error = (
            None if error is None else ErrorInfo(error[0], error[1], _ERROR_CLASSES[error[2]])
        )
        span.model, span.provider = model, provider
        span.usage = None if usage is None else _new_usage(*usage)
        span.cost = None
        span.input = span.output = None  # built as payloads below, not shown to hooks
        span.attrs, span.events, span.params = attrs, None, params
        span.first_token_ns = first_token
        span.folded, span.late = False, None
        limit = self.max_payload_chars
        return self.build(
            span,
            trace.ctx,
            _payload(inp, inp_packed, limit),
            _payload(out, out_packed, limit),
        )

    def _trace(self, root: int, is_root: bool) -> Trace:
        trace = self.traces.get(root)
        if trace is None:
            trace = self._recent.get(root)
            if trace is None:  # its trace was forgotten: the record still keeps its ids
                ctx = TraceContext(trace_id=f"{root:032x}", workflow="")
                return Trace(ctx, self.emit, self)
        elif is_root:
            self._forget(root, trace)
        return trace

    def _forget(self, root: int, trace: Trace) -> None:
        with self._lock:
            self.traces.pop(root, None)
            self._recent[root] = trace
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)

    def __call__(self, span: OpenSpan) -> SpanRecord:
        """The record of an open span that ended (not packed)."""
        if span.parent_sid is None:
            self._forget(span.sid, span.trace)
        _read_late(span)
        limit = self.max_payload_chars
        capture = self.capture_io
        inp, out = span.input, span.output
        return self.build(
            span,
            span.trace.ctx,
            Payload(inp, limit) if capture and inp is not None else None,
            Payload(out, limit) if capture and out is not None else None,
        )

    def build(
        self, span: OpenSpan, ctx: TraceContext, inp: Payload | None, out: Payload | None
    ) -> SpanRecord:
        _read_late(span)
        kind = span.kind
        attrs = span.attrs
        if not self.capture_io and not CONTENT_ATTRIBUTES.isdisjoint(attrs):
            for name in CONTENT_ATTRIBUTES:
                attrs.pop(name, None)
        outputs = span.output
        hooks = self.hooks
        usage = span.usage
        if kind is SpanKind.LLM or kind is SpanKind.EMBEDDING:
            if usage is None and kind is SpanKind.LLM:
                usage = span.usage = hooks.estimate_usage(span, outputs)
            span.cost = hooks.finish_llm(span, usage)
            if span.first_token_ns is not None:
                attrs[LG_TIME_TO_FIRST_TOKEN] = (span.first_token_ns - span.start_ns) / 1e9
        elif kind is SpanKind.NODE and span.params:
            attrs[LG_TRIGGERS] = list(span.params)  # LangGraph's triggers, kept at the start
        hooks.finish_span(span, outputs, span.status)
        parent = span.parent_sid
        events = span.events
        return _new_span_record(
            ctx,
            hex_id(span.sid),
            None if parent is None else hex_id(parent),
            span.name,
            kind,
            span.start_ns,
            span.end_ns,
            span.status,
            span.error,
            span.node,
            span.persona,
            span.model,
            span.provider,
            usage,
            span.cost,
            inp,
            out,
            attrs,
            tuple(events) if events else (),
        )


def _read_late(span: OpenSpan) -> None:
    """Let the adapter read what it kept of the span's end (once)."""
    late = span.late
    if late is not None:
        span.late = None
        late(span)


def _pack_io(value: Any) -> tuple[Any, int]:
    """An input or output as it waits, and how it was packed: a scalar as it is (0);
    anything else as marshal bytes, of its JSON-ready plain copy when it has one
    (``PLAIN_COPY``: small trees of plain values, LangChain messages and documents, whose
    rendering then skips the plain walk), else of the object itself when it is made of
    plain Python values (``MARSHALLED``). Raises ``ValueError`` for anything else (the
    span is then kept as it is). Rendering what ``marshal`` gives back yields the text
    the object itself would have given."""
    if type(value) in _ATOMS:
        return value, 0
    try:
        return marshal.dumps(plain_copy(value)), PLAIN_COPY
    except Unplain:
        return marshal.dumps(value), MARSHALLED


def _payload(value: Any, packed: int, limit: int) -> Payload | None:
    if packed:
        return Payload.of_packed(value, limit, plain=packed == PLAIN_COPY)
    return None if value is None else Payload(value, limit)


def _usage_fields(u: TokenUsage) -> tuple[Any, ...]:
    return (
        u.input_tokens,
        u.output_tokens,
        u.total_tokens,
        u.cached_input_tokens,
        u.cache_creation_tokens,
        u.reasoning_tokens,
        u.estimated,
    )
