"""The OpenTelemetry sink: records become OTel spans and GenAI metrics.

The application owns the OpenTelemetry SDK; this sink only uses the API::

    from langgraph_observe.sinks.otel import OTelSink
    sink = OTelSink()  # the global tracer and meter providers
    sink = OTelSink(tracer_provider=tp, meter_provider=mp)  # or explicit ones

Spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, names like
"chat gpt-4o" and "execute_tool search") plus this library's ``langgraph.*`` attributes.
Records arrive after the work ended, children before parents, so each span is created
with the record's start and end times and an explicit parent built from the record's
ids; nothing is attached to the current context.

**Span ids.** With an SDK tracer provider the exported spans carry the records' own
trace and span ids: the sink's tracer (its own instrumentation scope) gets an id
generator that hands out the record's ids for the span being started, and falls back to
the provider's generator otherwise. Parents therefore link up whatever order the records
come in, and the ids match the local store and Langfuse. A provider that is not the
SDK's keeps its own span ids; trace ids still match, parent links then do not.

**Cost.** With an SDK tracer whose span processors only act when spans end (the SDK's
batch and simple processors), the sink skips ``start_span`` and hands the processors the
finished span the SDK would have built (see :mod:`._otel_spans`): the same content,
sampled by the provider's sampler, for half the CPU and far fewer objects for the
garbage collector while spans wait in the batch queue. Other tracers and processors get
spans through ``start_span``.

Metrics (low-cardinality attributes only):

* ``gen_ai.client.token.usage`` (histogram, ``{token}``): ``gen_ai.operation.name``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.token.type`` (input/output).
* ``gen_ai.client.operation.duration`` (histogram, ``s``): ``gen_ai.operation.name``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``error.type`` (on failure).
* ``gen_ai.client.operation.time_to_first_chunk`` (histogram, ``s``): streamed model calls
  only; the same attributes as the duration.
* ``langgraph.workflow.duration`` (histogram, ``s``): ``langgraph.workflow``, ``error.type``.
* ``langgraph.node.duration`` (histogram, ``s``): ``langgraph.workflow``, ``langgraph.node``,
  ``error.type``.

``autoconfigure`` turns the sink on when the application installed an SDK tracer
provider as the global one; ``LANGGRAPH_OBSERVE_OTEL=1`` or ``0`` forces it on or off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from .._guard import report
from ..events import Record, SpanKind, SpanRecord, SpanStatus
from ._otel_attrs import attributes_of, checked_span_attributes, operation_name, span_name
from ._otel_flush import BoundedFlush
from ._otel_ids import PresetIds
from ._otel_metrics import GenAIMetrics
from ._otel_spans import DirectSpans, direct_spans
from ._otel_switch import autoconfigure
from ._sdk_queue import SDKQueueGuard
from .base import BaseSink

__all__ = ["OTelSink", "autoconfigure"]

INSTRUMENTATION_SCOPE = "langgraph_observe"

_CLIENT_KINDS = (SpanKind.LLM, SpanKind.EMBEDDING, SpanKind.RETRIEVER)
_CLIENT, _INTERNAL = trace.SpanKind.CLIENT, trace.SpanKind.INTERNAL
_EMPTY_CONTEXT = otel_context.Context()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("langgraph-observe")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


class OTelSink(BaseSink):
    """Exports span records as OpenTelemetry spans and records GenAI metrics.

    Args:
        tracer_provider: where spans go; the global provider when ``None``.
        meter_provider: where metrics go; the global provider when ``None``.
        name: the sink's name in health counters.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        name: str = "otel",
    ) -> None:
        self.name = name
        self._given_tracer_provider = tracer_provider
        self._given_meter_provider = meter_provider
        self._provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None
        self._ids: PresetIds | None = None
        self._sdk_queue = SDKQueueGuard(None)
        self._flush = BoundedFlush(self._force_flush, f"langgraph-observe-{name}-flush")
        self._direct: DirectSpans | None = None
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(
            INSTRUMENTATION_SCOPE, _version()
        )
        self._metrics = GenAIMetrics(meter)

    @property
    def preserves_ids(self) -> bool:
        """True when exported spans carry the records' span ids (an SDK provider)."""
        self._resolve()
        return self._ids is not None

    def _resolve(self) -> trace.Tracer:
        provider = self._given_tracer_provider or trace.get_tracer_provider()
        if provider is self._provider and self._tracer is not None:
            return self._tracer
        tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, _version())
        self._ids = None
        current = getattr(tracer, "id_generator", None)
        if current is not None and hasattr(current, "generate_span_id"):
            ids = current if isinstance(current, PresetIds) else PresetIds(current)
            tracer.id_generator = ids  # type: ignore[attr-defined]
            self._ids = ids
        self._provider, self._tracer = provider, tracer
        self._sdk_queue = SDKQueueGuard(provider)
        self._direct = direct_spans(tracer)
        return tracer

    def export(self, records: Sequence[Record]) -> None:
        tracer = self._resolve()
        direct = self._direct if self._direct is not None and self._direct.usable() else None
        for record in records:
            if isinstance(record, SpanRecord):
                operation = operation_name(record)
                try:
                    self._metrics.record(record, operation)
                except Exception as exc:  # a broken meter must not cost the spans
                    report(f"sink {self.name}: recording metrics", exc)
                if self._sdk_queue.full():  # the SDK would drop it: count it, skip the work
                    if self.health is not None:
                        self.health.drop(self.name, "sdk_queue_full")
                    continue
                kind = _CLIENT if record.kind in _CLIENT_KINDS else _INTERNAL
                name = span_name(record, operation)
                attributes, clean = checked_span_attributes(record, operation)
                if direct is not None:
                    direct.write(record, name, kind, attributes, clean)
                else:
                    self._start_span(tracer, record, name, kind, attributes)

    def _start_span(
        self,
        tracer: trace.Tracer,
        record: SpanRecord,
        name: str,
        kind: trace.SpanKind,
        attributes: dict[str, Any],
    ) -> None:
        """The public way, for tracers :mod:`._otel_spans` cannot write to directly."""
        if record.parent_span_id:
            parent = NonRecordingSpan(
                SpanContext(
                    trace_id=int(record.trace_id, 16),
                    span_id=int(record.parent_span_id, 16),
                    is_remote=False,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                )
            )
            ctx = trace.set_span_in_context(parent, _EMPTY_CONTEXT)
        else:
            ctx = _EMPTY_CONTEXT
        if self._ids is not None:
            with self._ids.use(record.trace_id, record.span_id):
                span = tracer.start_span(name, ctx, kind, attributes, start_time=record.start_ns)
        else:
            span = tracer.start_span(name, ctx, kind, attributes, start_time=record.start_ns)
        for event in record.events:
            span.add_event(event.name, attributes_of(event.attributes), timestamp=event.time_ns)
        if record.status is SpanStatus.ERROR:
            error = record.error
            if error is not None:
                span.add_event(
                    "exception",
                    {"exception.type": error.type, "exception.message": error.message},
                    timestamp=record.end_ns,
                )
                span.set_status(Status(StatusCode.ERROR, f"{error.type}: {error.message}"))
            else:
                span.set_status(Status(StatusCode.ERROR))
        # anything else leaves the status unset: instrumentation does not set Ok
        span.end(end_time=max(record.end_ns, record.start_ns))

    def _force_flush(self, timeout: float) -> None:
        millis = max(1, int(timeout * 1000))
        for provider in (
            self._given_tracer_provider or trace.get_tracer_provider(),
            self._given_meter_provider or metrics.get_meter_provider(),
        ):
            force_flush = getattr(provider, "force_flush", None)
            if callable(force_flush):
                force_flush(millis)

    def after_fork(self) -> None:
        """In a forked child: a flush helper of the child's own (the SDK's processors
        restart their threads themselves)."""
        self._flush = BoundedFlush(self._force_flush, f"langgraph-observe-{self.name}-flush")

    def flush(self, timeout: float) -> None:
        """Flush the providers when they can (SDK providers). Returns within ``timeout``
        seconds even when the collector stalls (the flush then goes on in the background)."""
        self._flush(timeout)
