"""The OpenTelemetry sink: GenAI spans and metrics, in memory and over OTLP/HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from langgraph_observe import semconv as sc
from langgraph_observe.config import Settings
from langgraph_observe.dispatch import Dispatcher
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

from .otlp_receiver import OTLPReceiver, otlp_receiver, require

require("opentelemetry.sdk")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from langgraph_observe.sinks.otel import OTelSink, autoconfigure  # noqa: E402

__all__ = ["otlp_receiver"]

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def make_trace(
    trace_id: str = "0af7651916cd43dd8448eb211c80319c", fail_tool: bool = False
) -> list[SpanRecord]:
    """A workflow with two nodes, an LLM call and a tool; children first, as they end."""
    ctx = TraceContext(
        trace_id=trace_id,
        workflow="support",
        tenant="acme",
        user_id="u-1",
        session_id="s-1",
        thread_id="th-1",
        tags=("beta",),
    )
    root, agent, llm, tools, tool = ("a" * 16, "b" * 16, "c" * 16, "d" * 16, "e" * 16)
    llm_rec = SpanRecord(
        trace=ctx,
        span_id=llm,
        parent_span_id=agent,
        name="ChatOpenAI",
        kind=SpanKind.LLM,
        start_ns=T0 + 2 * MS,
        end_ns=T0 + 40 * MS,
        node="agent",
        persona="researcher",
        model="gpt-4o",
        provider="openai",
        usage=TokenUsage(
            input_tokens=120, output_tokens=30, cached_input_tokens=20, reasoning_tokens=5
        ),
        cost_usd=0.0006,
        attributes={
            sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
            sc.LG_STEP: 1,
            sc.LG_INVOCATION_PARAMS: {"temperature": 0.2},
            sc.LG_TIME_TO_FIRST_TOKEN: 0.01,
        },
        events=(SpanEvent("first_token", T0 + 12 * MS),),
    )
    error = ErrorInfo("ValueError", "no results", ErrorClass.PERMANENT) if fail_tool else None
    tool_rec = SpanRecord(
        trace=ctx,
        span_id=tool,
        parent_span_id=tools,
        name="search",
        kind=SpanKind.TOOL,
        start_ns=T0 + 45 * MS,
        end_ns=T0 + 60 * MS,
        node="tools",
        status=SpanStatus.ERROR if fail_tool else SpanStatus.OK,
        error=error,
        attributes={sc.GEN_AI_TOOL_CALL_ID: "call_1"},
    )
    agent_rec = SpanRecord(
        trace=ctx,
        span_id=agent,
        parent_span_id=root,
        name="agent",
        kind=SpanKind.NODE,
        start_ns=T0 + 1 * MS,
        end_ns=T0 + 41 * MS,
        node="agent",
        persona="researcher",
        attributes={sc.LG_STEP: 1},
    )
    tools_rec = SpanRecord(
        trace=ctx,
        span_id=tools,
        parent_span_id=root,
        name="tools",
        kind=SpanKind.NODE,
        start_ns=T0 + 44 * MS,
        end_ns=T0 + 61 * MS,
        node="tools",
        status=tool_rec.status,
        error=error,
        attributes={sc.LG_STEP: 2},
    )
    root_rec = SpanRecord(
        trace=ctx,
        span_id=root,
        parent_span_id=None,
        name="support",
        kind=SpanKind.WORKFLOW,
        start_ns=T0,
        end_ns=T0 + 62 * MS,
        status=tool_rec.status,
        error=error,
    )
    return [llm_rec, agent_rec, tool_rec, tools_rec, root_rec]


def run_through_dispatcher(sink: Any, records: list[Any]) -> None:
    d = Dispatcher([sink], interval=0.05)
    try:
        d.emit_many(records)
        assert d.flush(10)
    finally:
        d.shutdown(5)
    assert d.health.total_dropped == 0, d.health.snapshot()


@pytest.fixture
def memory() -> Any:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    yield tp, exporter, mp, reader
    tp.shutdown()
    mp.shutdown()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out.extend(m.data.data_points)
    return out


@pytest.mark.unit
def test_spans_keep_record_ids_times_and_parents(memory: Any) -> None:
    tp, exporter, mp, _ = memory
    records = make_trace()
    run_through_dispatcher(OTelSink(tp, mp), records)
    spans = {format(s.context.span_id, "016x"): s for s in exporter.get_finished_spans()}
    assert set(spans) == {r.span_id for r in records}
    for r in records:
        s = spans[r.span_id]
        assert format(s.context.trace_id, "032x") == r.trace_id
        parent = format(s.parent.span_id, "016x") if s.parent else None
        assert parent == r.parent_span_id
        assert (s.start_time, s.end_time) == (r.start_ns, r.end_ns)


@pytest.mark.unit
def test_error_status_and_error_type(memory: Any) -> None:
    tp, exporter, mp, _ = memory
    run_through_dispatcher(OTelSink(tp, mp), make_trace(fail_tool=True))
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    tool = by_name["execute_tool search"]
    assert tool.status.status_code is trace.StatusCode.ERROR
    assert tool.status.description == "ValueError: no results"
    assert tool.attributes["error.type"] == "ValueError"
    assert tool.attributes[sc.LG_ERROR_CLASS] == "permanent"
    exc = [e for e in tool.events if e.name == "exception"]
    assert exc and exc[0].attributes["exception.message"] == "no results"
    # instrumentation leaves a success unset (the trace API: only the application sets Ok)
    assert by_name["chat gpt-4o"].status.status_code is trace.StatusCode.UNSET
    assert tool.status.status_code is trace.StatusCode.ERROR


@pytest.mark.unit
def test_metrics_with_low_cardinality_attributes(memory: Any) -> None:
    tp, _, mp, reader = memory
    run_through_dispatcher(OTelSink(tp, mp), make_trace() + make_trace("1" * 32))
    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in points(reader, "gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == 240 and tokens["input"].count == 2
    assert tokens["output"].sum == 60
    assert dict(tokens["input"].attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        "gen_ai.token.type": "input",
    }
    (dur,) = points(reader, "gen_ai.client.operation.duration")
    assert dur.count == 2 and dur.sum == pytest.approx(0.076)
    (wf,) = points(reader, "langgraph.workflow.duration")
    assert dict(wf.attributes) == {sc.LG_WORKFLOW: "support"} and wf.count == 2
    nodes = {p.attributes[sc.LG_NODE]: p for p in points(reader, "langgraph.node.duration")}
    assert set(nodes) == {"agent", "tools"} and nodes["tools"].sum == pytest.approx(0.034)
    high = {sc.LG_TENANT, sc.LG_THREAD_ID, sc.GEN_AI_CONVERSATION_ID, sc.LG_STEP}
    for name in (
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "langgraph.workflow.duration",
        "langgraph.node.duration",
    ):
        for p in points(reader, name):
            assert not high & set(p.attributes), (name, p.attributes)


@pytest.mark.unit
def test_error_type_on_duration_metrics(memory: Any) -> None:
    tp, _, mp, reader = memory
    run_through_dispatcher(OTelSink(tp, mp), make_trace(fail_tool=True))
    (wf,) = points(reader, "langgraph.workflow.duration")
    assert wf.attributes["error.type"] == "ValueError"


@pytest.mark.unit
def test_ids_still_preserved_for_other_tracers_on_the_provider(memory: Any) -> None:
    tp, exporter, mp, _ = memory
    sink = OTelSink(tp, mp)
    run_through_dispatcher(sink, make_trace())
    assert sink.preserves_ids
    with tp.get_tracer("app").start_as_current_span("app-span") as own:
        pass
    ids = {format(s.context.span_id, "016x") for s in exporter.get_finished_spans()}
    assert format(own.get_span_context().span_id, "016x") in ids
    assert len(ids) == 6


@pytest.mark.unit
def test_autoconfigure_off_without_sdk_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGGRAPH_OBSERVE_OTEL", raising=False)
    sink, reason = autoconfigure(Settings())
    assert sink is None and reason.startswith("off:")
    monkeypatch.setenv("LANGGRAPH_OBSERVE_OTEL", "1")
    sink, reason = autoconfigure(Settings())
    assert isinstance(sink, OTelSink) and reason.startswith("on:")


@pytest.mark.e2e
def test_autoconfigure_on_with_global_sdk_provider_in_subprocess() -> None:
    code = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from langgraph_observe.config import Settings
        from langgraph_observe.sinks.otel import autoconfigure, OTelSink
        trace.set_tracer_provider(TracerProvider())
        sink, reason = autoconfigure(Settings())
        assert isinstance(sink, OTelSink), reason
        print(reason)
    """)
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_OBSERVE_OTEL"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("on:")


@pytest.mark.e2e
def test_otlp_http_export_to_loopback_receiver(otlp_receiver: OTLPReceiver) -> None:
    from langgraph_observe.otel_setup import setup_otel

    tp, mp = setup_otel(
        otlp_receiver.url, service_name="otel-sink-test", headers={"x-api-key": "k"}
    )
    records = make_trace(fail_tool=True)
    try:
        run_through_dispatcher(OTelSink(tp, mp), records)
        assert mp.force_flush(10_000)
    finally:
        tp.shutdown()
        mp.shutdown()
    assert otlp_receiver.wait_for(lambda r: len(r.spans_at("/v1/traces")) == 5)
    spans = {s["span_id"]: s for s in otlp_receiver.spans_at("/v1/traces")}
    for r in records:
        s = spans[r.span_id]
        assert (s["trace_id"], s["parent_span_id"]) == (r.trace_id, r.parent_span_id)
        assert (s["start_ns"], s["end_ns"]) == (r.start_ns, r.end_ns)
        assert s["resource"]["service.name"] == "otel-sink-test"
        assert s["scope"] == "langgraph_observe"
    chat = spans["c" * 16]
    assert chat["name"] == "chat gpt-4o"
    assert chat["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert chat["attributes"][sc.GEN_AI_PROVIDER_NAME] == "openai"
    tool = spans["e" * 16]
    assert tool["status"]["code"] == 2 and tool["attributes"]["error.type"] == "ValueError"
    assert otlp_receiver.wait_for(
        lambda r: any(m["name"] == "gen_ai.client.token.usage" for m in r.metrics)
    )
    names = {m["name"] for m in otlp_receiver.metrics}
    assert {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
        "langgraph.workflow.duration",
        "langgraph.node.duration",
    } <= names
    first_chunk = next(
        m
        for m in otlp_receiver.metrics
        if m["name"] == "gen_ai.client.operation.time_to_first_chunk"
    )
    assert first_chunk["unit"] == "s"
    assert [p["sum"] for p in first_chunk["points"]] == [pytest.approx(0.01)]
    usage = next(m for m in otlp_receiver.metrics if m["name"] == "gen_ai.client.token.usage")
    assert usage["unit"] == "{token}" and usage["type"] == "histogram"
    assert sum(p["sum"] for p in usage["points"]) == 150


@pytest.mark.e2e
def test_flush_returns_within_timeout_when_collector_stalls(otlp_receiver: OTLPReceiver) -> None:
    from langgraph_observe.otel_setup import setup_otel

    otlp_receiver.stall = True
    tp, mp = setup_otel(otlp_receiver.url, timeout_s=1.0)
    sink = OTelSink(tp, mp)
    try:
        sink.export(make_trace())
        started = time.monotonic()
        sink.flush(0.5)
        assert time.monotonic() - started < 2.0
    finally:
        otlp_receiver.stop()
        tp.shutdown()
        mp.shutdown()


def test_global_tracer_provider_untouched() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_setup_otel_without_sdk_raises_install_hint() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["opentelemetry.sdk"] = None
        from langgraph_observe.otel_setup import setup_otel
        try:
            setup_otel()
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'langgraph-observe[otel]'" in out.stdout, out.stderr
