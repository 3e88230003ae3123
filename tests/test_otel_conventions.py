"""OTel spans in the GenAI conventions' own names and values: providers, retrieval,
workflows and agents."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from langgraph_observe import semconv as sc
from langgraph_observe.events import SpanKind, SpanRecord, TraceContext

from .otlp_receiver import require

require("opentelemetry.sdk.trace")

from opentelemetry import trace  # noqa: E402

from langgraph_observe.sinks.otel import OTelSink  # noqa: E402

from .test_otel_sink import (  # noqa: E402
    MS,
    T0,
    make_trace,
    memory,
    points,
    run_through_dispatcher,
)

__all__ = ["memory"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("langchain", "otel"),
    [
        ("openai", "openai"),
        ("azure", "azure.ai.openai"),
        ("amazon_bedrock", "aws.bedrock"),
        ("google_genai", "gcp.gen_ai"),
        ("mistralai", "mistral_ai"),
        ("ollama", "ollama"),  # no well-known value: kept
    ],
)
def test_provider_names_are_the_conventions(memory: Any, langchain: str, otel: str) -> None:
    tp, exporter, mp, _ = memory
    records = [
        dataclasses.replace(r, provider=langchain) if r.kind is SpanKind.LLM else r
        for r in make_trace()
    ]
    run_through_dispatcher(OTelSink(tp, mp), records)
    (chat,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert chat.attributes[sc.GEN_AI_PROVIDER_NAME] == otel


@pytest.mark.unit
def test_retrieval_and_subgraph_span_names(memory: Any) -> None:
    tp, exporter, _, _ = memory
    ctx = TraceContext(trace_id="1" * 32, workflow="rag")
    records = [
        SpanRecord(ctx, "b" * 16, "a" * 16, "docs", SpanKind.RETRIEVER, T0, T0 + MS,
                   attributes={sc.LG_RETRIEVER_QUERY: "refund policy"}),
        SpanRecord(ctx, "c" * 16, "a" * 16, "research_graph", SpanKind.SUBGRAPH, T0, T0 + MS,
                   persona="researcher"),
        SpanRecord(ctx, "d" * 16, "a" * 16, "helper_graph", SpanKind.SUBGRAPH, T0, T0 + MS),
        SpanRecord(ctx, "a" * 16, None, "rag", SpanKind.WORKFLOW, T0, T0 + 2 * MS),
    ]  # fmt: skip
    run_through_dispatcher(OTelSink(tp), records)
    by_name = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert set(by_name) == {
        "retrieval docs",
        "invoke_agent researcher",
        "invoke_agent helper_graph",
        "invoke_workflow rag",
    }
    retrieval = by_name["retrieval docs"]
    assert retrieval[sc.GEN_AI_OPERATION_NAME] == "retrieval"
    assert retrieval["gen_ai.retrieval.query.text"] == "refund policy"
    assert retrieval["gen_ai.data_source.id"] == "docs"  # the span: "retrieval {data source}"
    assert by_name["invoke_agent researcher"][sc.GEN_AI_AGENT_NAME] == "researcher"
    assert by_name["invoke_agent helper_graph"][sc.GEN_AI_AGENT_NAME] == "helper_graph"


@pytest.mark.unit
def test_genai_attributes_and_names(memory: Any) -> None:
    tp, exporter, mp, _ = memory
    run_through_dispatcher(OTelSink(tp, mp), make_trace())
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    assert set(by_name) == {
        "chat gpt-4o",
        "execute_tool search",
        "invoke_workflow support",
        "agent",
        "tools",
    }
    chat = by_name["chat gpt-4o"]
    assert chat.kind is trace.SpanKind.CLIENT
    a = chat.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 30)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 20
    assert a["gen_ai.usage.reasoning.output_tokens"] == 5
    assert a["gen_ai.response.time_to_first_chunk"] == 0.01
    assert sc.LG_USAGE_CACHED_INPUT not in a and sc.LG_TIME_TO_FIRST_TOKEN not in a
    assert a[sc.LG_COST_USD] == pytest.approx(0.0006)
    assert a[sc.LG_PERSONA] == "researcher" and a[sc.GEN_AI_AGENT_NAME] == "researcher"
    assert a[sc.LG_NODE] == "agent" and a[sc.LG_WORKFLOW] == "support"
    assert a[sc.LG_TENANT] == "acme" and a[sc.GEN_AI_CONVERSATION_ID] == "s-1"
    assert a[sc.LG_INVOCATION_PARAMS] == '{"temperature":0.2}'
    assert [e.name for e in chat.events] == ["first_token"]
    tool = by_name["execute_tool search"].attributes
    assert tool[sc.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert tool[sc.GEN_AI_TOOL_NAME] == "search" and tool[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    root = by_name["invoke_workflow support"].attributes
    assert root[sc.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert root["gen_ai.workflow.name"] == "support"
    assert sc.GEN_AI_AGENT_NAME not in root  # the workflow has no persona
    assert sc.GEN_AI_OPERATION_NAME not in by_name["tools"].attributes
    assert by_name["tools"].attributes[sc.LG_STEP] == 2


@pytest.mark.unit
def test_model_metrics_carry_the_answering_model(memory: Any) -> None:
    tp, _, mp, reader = memory
    run_through_dispatcher(OTelSink(tp, mp), make_trace())
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        found = points(reader, name)
        assert found and all(
            p.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06" for p in found
        ), name


@pytest.mark.unit
def test_an_embedding_step_names_its_provider(memory: Any) -> None:
    from langgraph_observe import CallbackHandler, rag

    from . import graphs

    tp, exporter, mp, reader = memory

    def embed(state: dict[str, Any]) -> dict[str, Any]:
        with rag.embedding(model="text-embedding-3-small", provider="azure") as step:
            step.usage(input_tokens=12)
        return {"log": ["embedded"]}

    handler = CallbackHandler(sinks=[OTelSink(tp, mp)])
    graphs.chain_graph(("embed", embed)).invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush(10)
    handler.shutdown()
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("embeddings")]
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    (point,) = points(reader, "gen_ai.client.token.usage")
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


@pytest.mark.unit
def test_a_cancelled_record_is_not_an_error(memory: Any) -> None:
    from langgraph_observe.events import SpanStatus

    tp, exporter, _, _ = memory
    ctx = TraceContext(trace_id="2" * 32, workflow="wf")
    record = SpanRecord(
        ctx, "a" * 16, None, "wf", SpanKind.WORKFLOW, T0, T0 + MS, SpanStatus.CANCELLED
    )
    run_through_dispatcher(OTelSink(tp), [record])
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.UNSET
    assert span.attributes[sc.LG_CANCELLED] is True
