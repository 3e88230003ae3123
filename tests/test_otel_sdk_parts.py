"""The private OpenTelemetry SDK parts the OTel sink's direct span writer reads
(``sinks/_otel_spans.py``) are where it reads them, and it steps aside when they are not.

When a test here fails after an SDK upgrade, update ``_otel_spans.direct_spans`` (until
then the sink goes through ``start_span``, slower but correct)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from .otlp_receiver import require

require("opentelemetry.sdk")
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import NoOpTracer  # noqa: E402

from langgraph_observe.sinks._otel_sdk import FinishedSpan  # noqa: E402
from langgraph_observe.sinks._otel_spans import direct_spans  # noqa: E402

from .test_otel_direct_spans import Starting  # noqa: E402

pytestmark = pytest.mark.unit


def test_other_tracers_and_providers_are_not_written_directly() -> None:
    assert direct_spans(NoOpTracer()) is None
    assert direct_spans(object()) is None
    tp = SDKTracerProvider()
    writer = direct_spans(tp.get_tracer("app"))
    assert writer is not None and writer.usable()
    tp.add_span_processor(Starting())
    assert not writer.usable()  # a processor added later is seen


def test_a_moved_sdk_part_means_start_span() -> None:
    for part in ("_span_limits", "_instrumentation_scope", "_tracer_metrics", "_is_enabled"):
        tracer = SDKTracerProvider().get_tracer("t")
        assert direct_spans(tracer) is not None
        if part == "_is_enabled":  # a method: shadowed by something not callable
            tracer._is_enabled = None  # type: ignore[method-assign,assignment]
        else:
            del tracer.__dict__[part]
        assert direct_spans(tracer) is None, part  # the sink then goes through start_span


def _does_nothing(method: Any) -> bool:
    (func,) = ast.parse(textwrap.dedent(inspect.getsource(method))).body
    assert isinstance(func, ast.FunctionDef)
    body = [
        n
        for n in func.body
        if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))  # docstring
    ]
    return all(isinstance(n, ast.Pass) for n in body)


def test_sdk_parts_read_by_direct_spans_are_still_there() -> None:
    """Fails when an SDK release moves what ``_otel_spans`` reads (then update it)."""
    tp = SDKTracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    tracer = tp.get_tracer("t")
    for name in ("_span_limits", "_instrumentation_scope", "_tracer_metrics", "_is_enabled"):
        assert hasattr(tracer, name), name
    assert isinstance(tracer.span_processor._span_processors, tuple)  # type: ignore[attr-defined]
    assert tracer.span_processor is tp._active_span_processor
    params = inspect.signature(ReadableSpan).parameters
    assert {
        "name",
        "context",
        "parent",
        "resource",
        "attributes",
        "events",
        "links",
        "kind",
    } <= set(params)
    assert {"instrumentation_info", "status", "start_time", "end_time"} <= set(params)
    assert "instrumentation_scope" in params
    for cls in (SpanProcessor, BatchSpanProcessor, SimpleSpanProcessor):
        for hook in ("on_start", "_on_ending"):
            assert _does_nothing(getattr(cls, hook)), (cls, hook)
    writer = direct_spans(tracer)
    assert writer is not None and writer.usable()
    assert writer._parts.readable_span is FinishedSpan  # it reads the span's containers


def test_no_sdk_provider_leaves_the_sdk_unimported() -> None:
    code = textwrap.dedent("""
        import sys
        from langgraph_observe.sinks.otel import OTelSink
        from langgraph_observe.events import SpanKind, SpanRecord, TraceContext
        ctx = TraceContext(trace_id="1" * 32, workflow="wf")
        OTelSink().export([SpanRecord(ctx, "2" * 16, None, "wf", SpanKind.WORKFLOW, 1, 2)])
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
