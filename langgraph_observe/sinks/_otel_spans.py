"""Finished SDK spans built straight from records, without ``Tracer.start_span``.

A record arrives after its work ended, so the OTel sink never needs a live span: what
the provider's span processors receive at the end is a ``ReadableSpan``. Going through
``start_span`` and ``end`` builds a mutable ``Span`` (with locks), cleans every attribute
value again into ``BoundedAttributes``, makes bounded lists for events and links, a
parent ``Context`` and ``NonRecordingSpan``, then copies it all into that
``ReadableSpan``. About fourteen objects tracked by the garbage collector stay alive per
span while it waits in a ``BatchSpanProcessor`` queue, long enough to reach the oldest
generation and make full collections come sooner.

:class:`DirectSpans` builds the ``ReadableSpan`` the SDK would have built and hands it
to the provider's processors' ``on_end``, as ``Span.end`` does. What is shared is shared:
the parent ``SpanContext`` (siblings share it, and the parent span reuses it as its own
context), trace flags, statuses, empty event and link tuples. Attribute values come
clean from :func:`~._otel_attrs.checked_span_attributes`. Two GC-tracked objects stay per
span: the ``ReadableSpan`` and its ``SpanContext``. The span and its resource are cheaper
subclasses for the OTLP encoder (:mod:`._otel_sdk`).

Sampling and limits are the SDK's: the provider's sampler decides (its ``ALWAYS_ON`` and
default ``ParentBased(ALWAYS_ON)`` samplers are known to keep every record: the records'
parents are local and sampled), and a span over the tracer's attribute or event limits
gets the SDK's ``BoundedAttributes`` and ``BoundedList``. The tracer's own metrics
(``otel.sdk.span.*``, when turned on) are recorded as ``start_span`` records them.

This reads private parts of the SDK, all in :func:`direct_spans` (once) and
:meth:`DirectSpans.usable` (once per batch): the tracer's span limits, instrumentation
scope, span metrics and enabled switch, the processors of its multi span processor (and
:class:`~._otel_sdk.FinishedSpan` reads the span's own containers). It is used only when
they are all there, the tracer is the SDK's own class, and every span processor does its
work in ``on_end`` alone (its ``on_start`` and ``_on_ending`` are the SDK's no-ops, as
in ``BatchSpanProcessor`` and ``SimpleSpanProcessor``); otherwise the sink goes through
``start_span`` as before. ``tests/test_otel_sdk_parts.py`` fails when an SDK release
moves these parts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from ..events import SpanRecord, SpanStatus
from ._otel_attrs import checked_attributes_of

__all__ = ["DirectSpans", "direct_spans"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_DEFAULT_STATE = trace.DEFAULT_TRACE_STATE
_ERROR = Status(StatusCode.ERROR)
#: anything but an error (ok, interrupted, cancelled: their attributes say which) leaves
#: the status unset: the trace API says instrumentation does not set ``Ok`` (that is the
#: application's call)
_UNSET = Status(StatusCode.UNSET)
_EMPTY_CONTEXT = otel_context.Context()
_MAX_PENDING_PARENTS = 8192  # parent contexts kept for parents still to come


@dataclass(frozen=True)
class _Parts:
    """What :class:`DirectSpans` uses of the SDK and of one SDK tracer."""

    readable_span: Callable[..., Any]
    event: Callable[..., Any]
    bounded_list: Any
    hashed_resource: Callable[[Any], Any]
    noop_hooks: frozenset[Any]  # on_start and _on_ending methods that do nothing
    keep_all: tuple[Any, ...]  # samplers known to record and sample every record
    record_and_sample: Any
    limits: Any  # the tracer's private parts from here on
    scope: Any
    span_metrics: Callable[[Any, Any], Callable[[], None]]


def direct_spans(tracer: Any) -> DirectSpans | None:
    """A :class:`DirectSpans` for ``tracer`` when it is an SDK tracer whose parts are
    where this SDK version keeps them, else ``None``."""
    loaded = sys.modules.get("opentelemetry.sdk.trace")
    if loaded is None or type(tracer) is not getattr(loaded, "Tracer", None):
        return None  # not an SDK tracer (and the SDK stays unimported when unused)
    try:
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.trace import export, sampling
        from opentelemetry.sdk.util import BoundedList

        from ._otel_sdk import FinishedSpan, HashedResource
    except ImportError:
        return None
    owners = (sdk_trace.SpanProcessor, export.BatchSpanProcessor, export.SimpleSpanProcessor)
    try:
        parts = _Parts(
            readable_span=_finished_span(FinishedSpan, sdk_trace.ReadableSpan, tracer.resource),
            event=sdk_trace.Event,
            bounded_list=BoundedList,
            hashed_resource=HashedResource,
            noop_hooks=frozenset(getattr(c, h) for c in owners for h in ("on_start", "_on_ending")),
            keep_all=(sampling.ALWAYS_ON, sampling.DEFAULT_ON),
            record_and_sample=sampling.Decision.RECORD_AND_SAMPLE,
            limits=tracer._span_limits,
            scope=tracer._instrumentation_scope,
            span_metrics=tracer._tracer_metrics.start_span,
        )
        processors = tracer.span_processor._span_processors
        enabled = tracer._is_enabled
    except AttributeError:
        return None
    if not isinstance(processors, tuple) or not callable(enabled):
        return None
    return DirectSpans(tracer, parts)


def _finished_span(finished: Any, readable: Any, resource: Any) -> Any:
    """:class:`~._otel_sdk.FinishedSpan` when it can read the SDK span's private
    containers, else the SDK's ``ReadableSpan``."""
    try:
        probe = finished(name="probe", resource=resource, attributes={}, events=(), links=())
        probe.dropped_attributes + probe.dropped_events + probe.dropped_links
    except AttributeError:
        return readable
    return finished


def only_on_end(processors: Sequence[Any], noop_hooks: frozenset[Any]) -> bool:
    """True when every processor's ``on_start`` and ``_on_ending`` are no-ops."""
    return all(
        getattr(type(p), "on_start", None) in noop_hooks
        and getattr(type(p), "_on_ending", None) in noop_hooks
        for p in processors
    )


class DirectSpans:
    """Writes records as finished SDK spans to the span processors of one SDK tracer."""

    def __init__(self, tracer: Any, parts: _Parts) -> None:
        self._tracer = tracer
        self._parts = parts
        limits = parts.limits
        self._plain_up_to = (  # spans with at most this many attributes keep the plain dict
            -1  # values to truncate: the SDK's BoundedAttributes does it
            if limits.max_span_attribute_length is not None
            else sys.maxsize
            if limits.max_span_attributes is None
            else limits.max_span_attributes
        )
        self._samples_all = False
        # Each swapped as one tuple (a sink shared by several handlers exports from several
        # threads): the processors checked and the verdict; the tracer's resource and the
        # copy spans carry; the last record's TraceContext and its trace id.
        self._checked: tuple[Any, bool] = (None, False)
        self._resource: tuple[Any, Any] = (None, None)
        self._last_trace: tuple[Any, int] = (None, 0)
        # span id -> SpanContext built for a child, reused when that span itself comes
        self._contexts: dict[int, SpanContext] = {}

    def usable(self) -> bool:
        """True while the tracer is enabled and its processors act in ``on_end`` alone
        (checked again whenever a processor is added)."""
        tracer = self._tracer
        processors = tracer.span_processor._span_processors
        if processors is not self._checked[0]:
            self._checked = (processors, only_on_end(processors, self._parts.noop_hooks))
        self._samples_all = any(tracer.sampler is s for s in self._parts.keep_all)
        if tracer.resource is not self._resource[0]:  # changes after a fork
            self._resource = (tracer.resource, self._parts.hashed_resource(tracer.resource))
        return self._checked[1] and bool(tracer._is_enabled())

    def write(
        self,
        record: SpanRecord,
        name: str,
        kind: trace.SpanKind,
        attributes: dict[str, Any],
        clean: bool,
    ) -> None:
        """Sample ``record`` and hand it to the span processors as a finished span
        (``attributes`` from :func:`~._otel_attrs.checked_span_attributes`; ``clean``:
        their values are in the SDK's form already)."""
        tracer, parts = self._tracer, self._parts
        last = self._last_trace
        if record.trace is not last[0]:  # records of a trace mostly come together
            last = self._last_trace = (record.trace, int(record.trace.trace_id, 16))
        trace_id = last[1]
        span_id = int(record.span_id, 16)
        parent = self._parent(trace_id, record.parent_span_id)
        attrs: Mapping[str, Any]
        if self._samples_all:
            decision = parts.record_and_sample
            flags, state, attrs = _SAMPLED, _DEFAULT_STATE, attributes
        else:
            ctx = _EMPTY_CONTEXT
            if parent is not None:
                ctx = trace.set_span_in_context(NonRecordingSpan(parent), _EMPTY_CONTEXT)
            result = tracer.sampler.should_sample(ctx, trace_id, name, kind, attributes, ())
            decision = result.decision
            flags = _SAMPLED if decision.is_sampled() else _NOT_SAMPLED
            state, attrs = result.trace_state, result.attributes
        parts.span_metrics(parent, decision)()
        if not decision.is_recording():
            return
        context = self._contexts.pop(span_id, None)
        if context is None or context[0] != trace_id or context[3] != flags or state:
            context = SpanContext(trace_id, span_id, False, flags, state)  # state: not empty
        limits = parts.limits
        if not clean or attrs is not attributes or len(attrs) > self._plain_up_to:
            attrs = BoundedAttributes(
                limits.max_span_attributes,
                attrs,
                immutable=True,
                max_value_len=limits.max_span_attribute_length,
            )
        events: Sequence[Any] = ()
        if record.status is SpanStatus.OK and not record.events:
            status = _UNSET
        else:
            status, events = self._outcome(record)
        tracer.span_processor.on_end(
            parts.readable_span(
                name=name,
                context=context,
                parent=parent,
                resource=self._resource[1],
                attributes=attrs,
                events=events,
                links=(),
                kind=kind,
                instrumentation_info=tracer.instrumentation_info,
                status=status,
                start_time=record.start_ns,
                end_time=max(record.end_ns, record.start_ns),
                instrumentation_scope=parts.scope,
            )
        )

    def _parent(self, trace_id: int, parent_span_id: str | None) -> SpanContext | None:
        if not parent_span_id:
            return None
        span_id = int(parent_span_id, 16)
        context = self._contexts.get(span_id)
        if context is None or context[0] != trace_id:
            context = SpanContext(trace_id, span_id, False, _SAMPLED)
            if not context.is_valid:
                return None
            if len(self._contexts) >= _MAX_PENDING_PARENTS:
                self._contexts.clear()
            self._contexts[span_id] = context
        return context

    def _outcome(self, record: SpanRecord) -> tuple[Status, Sequence[Any]]:
        """The span's status and events (the record's, then "exception" on an error)."""
        error = record.error if record.status is SpanStatus.ERROR else None
        if error is None:
            status = _ERROR if record.status is SpanStatus.ERROR else _UNSET
            if not record.events:
                return status, ()
        # (name, attributes, whether they are clean already, time)
        events = [(e.name, *checked_attributes_of(e.attributes), e.time_ns) for e in record.events]
        if error is not None:
            status = Status(StatusCode.ERROR, f"{error.type}: {error.message}")
            exception = {"exception.type": error.type, "exception.message": error.message}
            clean = error.type.__class__ is str and error.message.__class__ is str
            events.append(("exception", exception, clean, record.end_ns))
        return status, self._events(events)

    def _events(self, events: Sequence[tuple[str, dict[str, Any], bool, int]]) -> Sequence[Any]:
        """SDK events; attributes over the limits, or not clean, cleaned the SDK's way
        (in one go: cleaning twice could truncate what the SDK would not)."""
        limits = self._parts.limits
        most, longest = limits.max_event_attributes, limits.max_attribute_length
        out = []
        for name, attributes, clean, time_ns in events:
            if longest is not None or (most is not None and len(attributes) > most) or not clean:
                out.append(
                    self._parts.event(
                        name,
                        BoundedAttributes(most, attributes, immutable=True, max_value_len=longest),
                        time_ns,
                    )
                )
            else:
                out.append(self._parts.event(name, attributes, time_ns))
        if limits.max_events is not None and len(out) > limits.max_events:
            return self._parts.bounded_list.from_seq(limits.max_events, out)  # type: ignore[no-any-return]
        return tuple(out)
