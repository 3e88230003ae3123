"""LangGraph's functional API: an ``@entrypoint`` and its ``@task`` s are node spans, so
the node → persona mapping, gates and attempts apply to tasks as to a graph's nodes."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.func import entrypoint, task
from langgraph.types import RetryPolicy

from langgraph_observe import CallbackHandler, FeatureHooks, Gate, SpanKind
from langgraph_observe import semconv as sc
from langgraph_observe.testing import InMemorySink

pytestmark = pytest.mark.e2e

polish = RunnableLambda(lambda text: text.strip() + ".", name="write")  # named as its task


@task
def research(topic: str) -> str:
    return f" notes on {topic} "


calls = {"draft": 0}


@task(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01, jitter=False))
def write(notes: str) -> str:
    calls["draft"] += 1
    if calls["draft"] == 1:
        raise ConnectionError("model endpoint reset")
    return polish.invoke(notes)  # a runnable inside the task: a chain, not another node


@entrypoint()
def report(topic: str) -> str:
    notes = research(topic).result()
    return write(notes).result()


def test_tasks_are_nodes_with_personas_gates_and_attempts():
    hooks = FeatureHooks(
        personas={"research": "analyst", "write": "writer"},
        gates=[Gate("ends_with_period", "write", check=lambda text: text.endswith("."))],
    )
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=hooks)
    assert report.invoke("fusion", config={"callbacks": [handler]}) == "notes on fusion."
    handler.shutdown(5)
    nodes = {(s.name, s.attributes[sc.LG_ATTEMPT]): s for s in sink.spans(SpanKind.NODE)}
    assert set(nodes) == {("report", 1), ("research", 1), ("write", 1), ("write", 2)}
    entry = nodes[("report", 1)]
    for name in ("research", "write"):
        assert nodes[(name, 1)].parent_span_id == entry.span_id
    assert nodes[("research", 1)].persona == "analyst"
    assert nodes[("write", 2)].persona == "writer"
    assert nodes[("write", 1)].status.value == "error"
    (inner,) = [s for s in sink.spans(SpanKind.CHAIN) if s.name == "write"]
    assert inner.parent_span_id == nodes[("write", 2)].span_id
    (verdict,) = sink.scores()
    assert verdict.name == "ends_with_period" and verdict.passed is True
    assert verdict.span_id == nodes[("write", 2)].span_id
