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

from langgraph_observe.sinks.otel import OTelSink  # noqa: E402

from .test_otel_sink import MS, T0, make_trace, memory, run_through_dispatcher  # noqa: E402

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
    assert by_name["invoke_agent researcher"][sc.GEN_AI_AGENT_NAME] == "researcher"
    assert by_name["invoke_agent helper_graph"][sc.GEN_AI_AGENT_NAME] == "helper_graph"
