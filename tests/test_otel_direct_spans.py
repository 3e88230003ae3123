"""The OTel sink writes finished SDK spans directly (``sinks/_otel_spans.py``): exactly
what ``Tracer.start_span`` would export, for fewer objects and less CPU."""

from __future__ import annotations

import dataclasses
import enum
import gc
import sys
import threading
import uuid
from typing import Any

import pytest

from langgraph_observe import semconv as sc
from langgraph_observe.events import (
    ErrorClass,
    ErrorInfo,
    SpanEvent,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
)

from .otlp_receiver import require
from .test_otel_sink import MS, T0, make_trace

require("opentelemetry.sdk")
encoder = require("opentelemetry.exporter.otlp.proto.common.trace_encoder")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import (  # noqa: E402
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import TraceState  # noqa: E402

from langgraph_observe.sinks.otel import OTelSink  # noqa: E402

pytestmark = pytest.mark.unit


class Colour(str, enum.Enum):
    RED = "red"


class Collect(SpanProcessor):
    """Every span that ends, sampled or not (acts in ``on_end`` only)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class Starting(SpanProcessor):
    """A processor that acts when spans start: the sink must use ``start_span``."""

    def __init__(self) -> None:
        self.started = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1


def odd_records() -> list[SpanRecord]:
    """Records with every shape of value, status and event the sink handles."""
    ctx = TraceContext(trace_id="2" * 32, workflow="odd", tenant=7, thread_id=uuid.UUID(int=5))  # type: ignore[arg-type]
    common: dict[str, Any] = {"trace": ctx, "kind": SpanKind.CHAIN, "start_ns": T0}
    return [
        SpanRecord(
            span_id="1" * 16,
            parent_span_id="3" * 16,
            name="values",
            end_ns=T0 + MS,
            attributes={
                "list.str": ["a", None, "b"],
                "tuple.int": (1, 2),
                "mixed.num": [1, 2.5],
                "mixed": [1, "a"],
                "dict": {"k": [1, {"x": None}]},
                "none": None,
                "bytes": b"\x01",
                "enum": Colour.RED,
                "obj": object,
                "": "empty key",
                3: "int key",
                "nan": float("nan"),
            },
            events=(
                SpanEvent("e1", T0 + 1, {"n": 1, "l": ["x"], "d": {"a": 1}, "no": None}),
                SpanEvent("e2", T0 + 2),
            ),
            **common,
        ),
        SpanRecord(
            span_id="4" * 16,
            parent_span_id="3" * 16,
            name="interrupted",
            end_ns=T0 + 2 * MS,
            status=SpanStatus.INTERRUPTED,
            **common,
        ),
        SpanRecord(
            span_id="5" * 16,
            parent_span_id="3" * 16,
            name="failed without error info",
            end_ns=T0 - MS,  # ends before it starts: clamped to the start
            status=SpanStatus.ERROR,
            **common,
        ),
        SpanRecord(
            span_id="6" * 16,
            parent_span_id="0" * 16,  # an invalid parent: a root for the SDK
            name="llm",
            end_ns=T0 + 3 * MS,
            status=SpanStatus.ERROR,
            error=ErrorInfo("openai.RateLimitError", "slow down", ErrorClass.RATE_LIMIT),
            usage=TokenUsage(input_tokens=3, estimated=True),
            events=(SpanEvent("first_token", T0 + 5),),
            **{**common, "kind": SpanKind.LLM},
        ),
        SpanRecord(
            span_id="7" * 16,
            parent_span_id="3" * 16,
            name="odd error",
            end_ns=T0 + 4 * MS,
            status=SpanStatus.ERROR,
            error=ErrorInfo("Odd", ValueError("not text")),  # type: ignore[arg-type]
            **common,
        ),
        SpanRecord(
            span_id="3" * 16, parent_span_id=None, name="root", end_ns=T0 + 9 * MS, **common
        ),
    ]


def all_records() -> list[SpanRecord]:
    return make_trace() + make_trace("1" * 32, fail_tool=True) + odd_records()


def export_both(
    records: list[SpanRecord], **provider: Any
) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
    """The spans the sink exports when it writes them directly, and through start_span."""
    out = []
    for public in (False, True):
        collect, starting = Collect(), Starting()
        tp = SDKTracerProvider(**provider)
        tp.add_span_processor(collect)
        if public:
            tp.add_span_processor(starting)
        sink = OTelSink(tp, MeterProvider())
        sink.export(records)
        assert (sink._direct is not None and sink._direct.usable()) is not public
        assert starting.started == (len(collect.spans) if public else 0)
        out.append(sorted(collect.spans, key=lambda s: s.context.span_id))
        tp.shutdown()
    return out[0], out[1]


def summary(span: ReadableSpan) -> dict[str, Any]:
    ctx, parent = span.context, span.parent
    return {
        "name": span.name,
        "kind": span.kind,
        "context": (ctx.trace_id, ctx.span_id, ctx.is_remote, ctx.trace_flags, ctx.trace_state),
        "parent": parent and (parent.trace_id, parent.span_id, parent.is_remote),
        "times": (span.start_time, span.end_time),
        "attributes": [(k, repr(v), type(v)) for k, v in span.attributes.items()],
        "events": [
            (e.name, e.timestamp, [(k, repr(v)) for k, v in e.attributes.items()])
            for e in span.events
        ],
        "status": (span.status.status_code, span.status.description),
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "resource": (dict(span.resource.attributes), span.resource.schema_url),
        "scope": span.instrumentation_scope,
    }


def otlp(spans: list[ReadableSpan]) -> bytes:
    return bytes(encoder.encode_spans(spans).SerializeToString())


def assert_same(direct: list[ReadableSpan], public: list[ReadableSpan]) -> None:
    assert [summary(s) for s in direct] == [summary(s) for s in public]
    assert otlp(direct) == otlp(public)


def test_direct_spans_are_the_spans_start_span_makes() -> None:
    records = all_records()
    direct, public = export_both(records)
    assert len(direct) == len(records)
    assert_same(direct, public)
    llm = next(s for s in direct if s.name == "chat gpt-4o")
    assert llm.attributes[sc.LG_INVOCATION_PARAMS] == '{"temperature":0.2}'
    values = next(s for s in direct if s.name == "values")
    assert values.attributes["list.str"] == ("a", "b")
    assert values.attributes["3"] == "int key" and "" not in values.attributes
    assert values.dropped_attributes == 1  # the empty key, dropped and counted by the SDK
    assert values.attributes[sc.LG_THREAD_ID] == str(uuid.UUID(int=5))


@pytest.mark.parametrize(
    "sampler",
    [ALWAYS_ON, ALWAYS_OFF, ParentBased(ALWAYS_OFF), TraceIdRatioBased(0.5)],
    ids=["always_on", "always_off", "parent_based_off", "ratio"],
)
def test_the_providers_sampler_decides(sampler: Sampler) -> None:
    records = [r for i in range(40) for r in make_trace(f"{i + 1:032x}")]
    direct, public = export_both(records, sampler=sampler)
    assert_same(direct, public)
    if sampler is ALWAYS_OFF:
        assert direct == []
    if isinstance(sampler, ParentBased):  # roots dropped, children have sampled parents
        assert len(direct) == len(records) - 40


class Tagging(Sampler):
    """Records only, adds an attribute and a trace state."""

    def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kw: Any):  # type: ignore[no-untyped-def]
        return SamplingResult(
            Decision.RECORD_ONLY, {"sampled.by": "tagging"}, TraceState([("k", "v")])
        )

    def get_description(self) -> str:
        return "Tagging"


def test_a_recording_only_sampler_reaches_processors_unsampled() -> None:
    direct, public = export_both(make_trace(), sampler=Tagging())
    assert_same(direct, public)
    assert direct and all(not s.context.trace_flags.sampled for s in direct)
    assert all(s.attributes == {"sampled.by": "tagging"} for s in direct)


def test_span_limits_are_applied_as_the_sdk_applies_them() -> None:
    limits = SpanLimits(
        max_span_attributes=3,
        max_events=1,
        max_event_attributes=1,
        max_attribute_length=2,
        max_span_attribute_length=4,
    )
    direct, public = export_both(all_records(), span_limits=limits)
    assert_same(direct, public)
    assert any(s.dropped_attributes for s in direct) and any(s.dropped_events for s in direct)
    assert all(len(s.attributes) <= 3 for s in direct)


def test_span_metrics_of_the_sdk_still_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    counts = []
    for public in (False, True):
        reader = InMemoryMetricReader()
        tp = SDKTracerProvider(meter_provider=MeterProvider(metric_readers=[reader]))
        tp.add_span_processor(Starting() if public else SimpleSpanProcessor(InMemorySpanExporter()))
        OTelSink(tp, MeterProvider()).export(make_trace())
        data = reader.get_metrics_data()
        counts.append(
            sorted(
                (m.name, tuple(sorted(p.attributes.items())), p.value)
                for rm in data.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                for p in m.data.data_points
            )
        )
    assert counts[0] == counts[1]
    assert ("otel.sdk.span.started", (("otel.span.parent.origin", "local"),), 4) in [
        (n, tuple((k, v) for k, v in a if k != "otel.span.sampling_result"), c)
        for n, a, c in counts[0]
    ]


def test_siblings_and_parent_share_one_context() -> None:
    direct, _ = export_both(make_trace())
    by_name = {s.name: s for s in direct}
    root = by_name["invoke_workflow support"]
    assert by_name["agent"].parent is by_name["tools"].parent is root.context


def test_queued_spans_keep_few_objects_for_the_garbage_collector() -> None:
    tp = SDKTracerProvider()
    tp.add_span_processor(
        BatchSpanProcessor(
            InMemorySpanExporter(),
            max_queue_size=10_000,
            max_export_batch_size=10_000,
            schedule_delay_millis=600_000,
        )
    )
    sink = OTelSink(tp, MeterProvider())
    sink.export(make_trace("f" * 32))
    records = [r for i in range(60) for r in make_trace(f"{i + 1:032x}")]
    gc.collect()
    before = len(gc.get_objects())
    sink.export(records)
    gc.collect()
    per_span = (len(gc.get_objects()) - before) / len(records)
    tp.shutdown()
    assert per_span <= 2.5, per_span  # a ReadableSpan and its SpanContext (start_span: ~14)


def numbered_trace(i: int) -> list[SpanRecord]:
    """:func:`make_trace` with trace and span ids of its own."""
    ids = {c * 16: f"{i + 1:08x}{n:08x}" for n, c in enumerate("abcde", 1)}
    return [
        dataclasses.replace(
            r, span_id=ids[r.span_id], parent_span_id=r.parent_span_id and ids[r.parent_span_id]
        )
        for r in make_trace(f"{i + 1:032x}")
    ]


def test_a_sink_shared_by_threads_keeps_each_span_in_its_trace() -> None:
    collect = Collect()
    tp = SDKTracerProvider()
    tp.add_span_processor(collect)
    sink = OTelSink(tp, MeterProvider())
    chunks = [[r for i in range(t, 200, 4) for r in numbered_trace(i)] for t in range(4)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda c=c: [sink.export([r]) for r in c]) for c in chunks
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert len(collect.spans) == 1000
    for span in collect.spans:
        assert span.context.trace_id == span.context.span_id >> 32  # numbered_trace's ids
        assert span.parent is None or span.parent.trace_id == span.context.trace_id
