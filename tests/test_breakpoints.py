"""Static breakpoints (``interrupt_before`` / ``interrupt_after``) pause a run without an
exception any callback sees; LangGraph's lifecycle callbacks (``on_interrupt``,
``on_resume``) tell the handler, so the paused run is ``interrupted`` and the run that
continues it is linked to it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, SpanKind, SpanStatus
from langgraph_observe import semconv as sc
from langgraph_observe.testing import InMemorySink

from .graphs import State

pytestmark = pytest.mark.unit

pytest.importorskip("langgraph.callbacks", reason="LangGraph without lifecycle callbacks")


def _step(name: str) -> Any:
    def step(state: State) -> State:
        return {"log": [name]}

    return step


def _graph(**breakpoints: Any) -> Any:
    g = StateGraph(State)
    g.add_node("draft", _step("draft"))
    g.add_node("review", _step("review"))
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g.compile(name="doc", checkpointer=InMemorySaver(), **breakpoints)


def _roots(sink: InMemorySink) -> list[Any]:
    return sorted(sink.spans(SpanKind.WORKFLOW), key=lambda s: s.start_ns)


@pytest.mark.parametrize(
    ("where", "node"), [("interrupt_before", "review"), ("interrupt_after", "draft")]
)
def test_a_breakpoint_pauses_the_run_and_the_next_run_resumes_it(where: str, node: str) -> None:
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph = _graph(**{where: [node]})
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": f"t-{where}"}}
    graph.invoke({"log": []}, config)
    assert graph.get_state(config).next  # LangGraph paused it
    graph.invoke(None, config)  # continue from the breakpoint
    assert graph.get_state(config).next == ()
    assert handler.flush(10)
    paused, resumed = _roots(sink)
    assert paused.status is SpanStatus.INTERRUPTED and paused.error is None
    assert paused.attributes[sc.LG_INTERRUPTED] is True
    assert resumed.status is SpanStatus.OK
    assert resumed.attributes[sc.LG_RESUMED_FROM] == paused.trace_id
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_an_async_breakpoint_is_seen_too() -> None:
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph = _graph(interrupt_before=["review"])
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "t-async"}}

    async def both() -> None:
        await graph.ainvoke({"log": []}, config)
        await graph.ainvoke(None, config)

    asyncio.run(both())
    assert handler.flush(10)
    paused, resumed = _roots(sink)
    assert paused.status is SpanStatus.INTERRUPTED
    assert resumed.attributes[sc.LG_RESUMED_FROM] == paused.trace_id
    handler.shutdown()


def test_a_run_without_a_breakpoint_is_not_linked() -> None:
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph = _graph()
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "t-plain"}}
    graph.invoke({"log": []}, config)
    graph.invoke({"log": []}, config)  # a new turn on the thread: no resume
    assert handler.flush(10)
    first, second = _roots(sink)
    assert first.status is SpanStatus.OK and second.status is SpanStatus.OK
    assert sc.LG_RESUMED_FROM not in second.attributes
    handler.shutdown()
