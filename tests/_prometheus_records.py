"""Hand-made records for the Prometheus tests, and a helper that runs them through a real
Dispatcher into a PrometheusSink."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.events import (
    BudgetUpdate,
    ErrorClass,
    ErrorInfo,
    PersonaSwitch,
    Record,
    ScoreRecord,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
    WorkflowStarted,
)
from langgraph_observe.sinks.prometheus import PrometheusSink

_ids = itertools.count(1)
S = 1_000_000_000  # one second in ns


def span_id() -> str:
    return f"{next(_ids):016x}"


def trace(workflow: str = "support", tenant: str | None = "acme") -> TraceContext:
    return TraceContext(
        trace_id=f"{next(_ids):032x}",
        workflow=workflow,
        tenant=tenant,
        user_id="user-123",
        session_id="sess-9",
    )


def one_run(
    workflow: str = "support",
    *,
    tenant: str | None = "acme",
    status: SpanStatus = SpanStatus.OK,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cost: float = 0.25,
) -> list[Record]:
    """A run: started, a node with an LLM call, a tool and a retriever, then the root span."""
    t = trace(workflow, tenant)
    root = span_id()
    node = span_id()
    return [
        WorkflowStarted(t, root, workflow, 0),
        SpanRecord(
            t,
            span_id(),
            node,
            "ChatModel",
            SpanKind.LLM,
            0,
            2 * S,
            node="answer",
            persona="writer",
            model="gpt-x",
            provider="openai",
            usage=TokenUsage(
                input_tokens, output_tokens, cached_input_tokens=40, reasoning_tokens=5
            ),
            cost_usd=cost,
            attributes={"langgraph.llm.time_to_first_token_s": 0.4},
        ),
        SpanRecord(
            t,
            span_id(),
            node,
            "search",
            SpanKind.TOOL,
            0,
            S // 10,
            node="answer",
            attributes={"gen_ai.tool.name": "search"},
        ),
        SpanRecord(
            t,
            span_id(),
            node,
            "KB",
            SpanKind.RETRIEVER,
            0,
            S // 20,
            node="answer",
            attributes={"langgraph.retriever.documents": 3},
        ),
        SpanRecord(
            t,
            node,
            root,
            "answer",
            SpanKind.NODE,
            0,
            3 * S,
            node="answer",
            persona="writer",
            attributes={"langgraph.attempt": 1},
        ),
        SpanRecord(t, root, None, workflow, SpanKind.WORKFLOW, 0, 4 * S, status=status),
    ]


def failed_retried_node(workflow: str = "support") -> list[Record]:
    t = trace(workflow)
    return [
        SpanRecord(
            t,
            span_id(),
            span_id(),
            "fetch",
            SpanKind.NODE,
            0,
            S,
            node="fetch",
            status=SpanStatus.ERROR,
            error=ErrorInfo("httpx.ConnectTimeout", "timed out", ErrorClass.TIMEOUT),
            attributes={"langgraph.attempt": 1},
        ),
        SpanRecord(
            t,
            span_id(),
            span_id(),
            "fetch",
            SpanKind.NODE,
            0,
            S,
            node="fetch",
            attributes={"langgraph.attempt": 2},
        ),
    ]


def extras(workflow: str = "support", tenant: str | None = "acme") -> list[Record]:
    """Persona switch, budget updates and gate results."""
    t = trace(workflow, tenant)
    return [
        PersonaSwitch(t.trace_id, workflow, "planner", "writer", 0, tenant=tenant),
        PersonaSwitch(t.trace_id, workflow, None, "planner", 0, tenant=tenant),
        BudgetUpdate(
            "writer",
            "day",
            time.strftime("%Y-%m-%d", time.gmtime()),  # a window that is not over
            0,
            used_tokens=900,
            budget_tokens=1000,
            used_usd=1.5,
            budget_usd=2.0,
            tenant=tenant,
            workflow=workflow,
        ),
        ScoreRecord(t.trace_id, "grounded", True, 0, source="gate", workflow=workflow, passed=True),
        ScoreRecord(t.trace_id, "grounded", 0.2, 0, source="gate", workflow=workflow, passed=False),
        ScoreRecord(t.trace_id, "polite", False, 0, source="gate", workflow=workflow),
        ScoreRecord(t.trace_id, "helpful", 0.9, 0, source="feedback", workflow=workflow),
    ]


def feed(
    records: Sequence[Record], registry: CollectorRegistry | None = None, **sink_kwargs: object
) -> tuple[PrometheusSink, Dispatcher]:
    """Send ``records`` through a real Dispatcher into a new sink; flushed, shut down."""
    sink = PrometheusSink(registry=registry, **sink_kwargs)  # type: ignore[arg-type]
    dispatcher = Dispatcher([sink], interval=0.01)
    dispatcher.emit_many(records)
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    return sink, dispatcher
