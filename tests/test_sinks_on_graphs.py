"""The OTel and Langfuse sinks fed by the real CallbackHandler on real LangGraph graphs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_observe import CallbackHandler
from langgraph_observe import semconv as sc
from langgraph_observe.testing import InMemorySink

from . import graphs
from .otlp_receiver import OTLPReceiver, otlp_receiver, require

require("opentelemetry.sdk")
require("langfuse")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from langgraph_observe.sinks.langfuse import LangfuseSink  # noqa: E402
from langgraph_observe.sinks.otel import OTelSink  # noqa: E402

__all__ = ["otlp_receiver"]

LANGFUSE_PATH = "/api/public/otel/v1/traces"
pytestmark = pytest.mark.e2e


@pytest.fixture
def wired(otlp_receiver: OTLPReceiver) -> Iterator[tuple[Any, ...]]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    memory = InMemorySink()
    langfuse = LangfuseSink("pk-lf-graphs", "sk-lf-graphs", otlp_receiver.url, timeout_s=2)
    handler = CallbackHandler(sinks=[memory, OTelSink(tp, mp), langfuse])
    yield handler, memory, exporter, otlp_receiver
    handler.shutdown()
    tp.shutdown()
    mp.shutdown()


def hex_id(n: int, width: int = 16) -> str:
    return format(n, f"0{width}x")


def test_linear_graph_tree_reaches_both_backends_with_the_same_ids(wired: Any) -> None:
    handler, memory, exporter, receiver = wired
    graphs.linear_graph().invoke({"log": [], "topic": "obs"}, config={"callbacks": [handler]})
    assert handler.flush(10)
    records = memory.spans()
    (tree,) = memory.traces().values()
    otel = {hex_id(s.context.span_id): s for s in exporter.get_finished_spans()}
    assert set(otel) == {r.span_id for r in records}
    for r in records:
        s = otel[r.span_id]
        assert hex_id(s.context.trace_id, 32) == r.trace_id
        assert (hex_id(s.parent.span_id) if s.parent else None) == r.parent_span_id
    llm = tree.find(kind="llm")[0]
    node = tree.parent(llm)
    assert node is not None and node.kind == "node" and tree.parent(node) is tree.root
    chat = otel[llm.span_id]
    assert chat.name.startswith("chat") and chat.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert chat.attributes[sc.LG_NODE] == "plan"
    tool = otel[tree.one(kind="tool").span_id]
    assert tool.name == "execute_tool word_count"

    assert receiver.wait_for(lambda r: len(r.spans_at(LANGFUSE_PATH)) >= len(records))
    lf = {s["span_id"]: s for s in receiver.spans_at(LANGFUSE_PATH)}
    assert set(lf) == set(otel)
    types = {lf[r.span_id]["attributes"]["langfuse.observation.type"] for r in records}
    assert {"agent", "chain", "generation", "tool", "retriever"} <= types
    assert lf[llm.span_id]["parent_span_id"] == node.span_id


def test_failing_graph_marks_errors(wired: Any) -> None:
    handler, memory, exporter, receiver = wired
    with pytest.raises(ValueError):
        graphs.failing_graph().invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush(10)
    (tree,) = memory.traces().values()
    boom = tree.one(name="boom")
    otel = {hex_id(s.context.span_id): s for s in exporter.get_finished_spans()}
    assert otel[boom.span_id].status.status_code is trace.StatusCode.ERROR
    assert otel[boom.span_id].attributes["error.type"].endswith("ValueError")
    assert receiver.wait_for(lambda r: len(r.spans_at(LANGFUSE_PATH)) >= len(tree.spans))
    lf = {s["span_id"]: s for s in receiver.spans_at(LANGFUSE_PATH)}
    assert lf[boom.span_id]["attributes"]["langfuse.observation.level"] == "ERROR"
