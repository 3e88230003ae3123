"""How a run's flow ends, on real LangGraph graphs: an interrupt next to a failure, work
that goes on after its span ended (a sync node's thread), async streams the caller stops
reading, cancellation, and LangGraph's recursion limit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from prometheus_client import CollectorRegistry

from langgraph_observe import CallbackHandler, SpanKind, SpanStatus, _run_memory
from langgraph_observe import semconv as sc
from langgraph_observe.errors import classify_error
from langgraph_observe.events import ErrorClass, SpanRecord, WorkflowStarted
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.sinks.prometheus import PrometheusSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs
from .graphs import State

pytestmark = pytest.mark.unit

WAIT_S = 10.0  #: bound of every wait: a test that hangs fails instead


def _handler(*more: Any) -> tuple[CallbackHandler, InMemorySink]:
    sink = InMemorySink()
    return CallbackHandler(sinks=[sink, *more]), sink


def _parallel(name: str, first: Callable[..., Any], second: Callable[..., Any], **compile_kw: Any):
    """Two branches from START, named after their functions, both to END."""
    g = StateGraph(State)
    for fn in (first, second):
        g.add_node(fn.__name__, fn)
        g.add_edge(START, fn.__name__)
        g.add_edge(fn.__name__, END)
    return g.compile(name=name, **compile_kw)


def _by_name(sink: InMemorySink) -> dict[str, SpanRecord]:
    return {s.name: s for s in sink.spans()}


def _no_cancellation_errors(sink: InMemorySink) -> None:
    errors = [s for s in sink.spans() if s.status is SpanStatus.ERROR]
    assert errors == [], [(s.name, s.error) for s in errors]


class BlockingModel(GenericFakeChatModel):
    """An async model call that announces its start, then waits (until cancelled)."""

    started: Any = None  # an asyncio.Event, set when the call began

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        self.started.set()
        await asyncio.sleep(WAIT_S)
        return await super()._agenerate(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> Any:  # under astream_events
        self.started.set()
        await asyncio.sleep(WAIT_S)
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk


def _stream_graph() -> tuple[Any, asyncio.Event]:
    """``fast`` answers once ``slow``'s model call is running; ``slow`` waits on it."""
    started = asyncio.Event()
    model = BlockingModel(messages=iter([AIMessage("late")]), started=started)

    async def fast(state: State) -> State:
        await asyncio.wait_for(started.wait(), WAIT_S)
        return {"log": ["fast"]}

    async def slow(state: State) -> State:
        return {"log": [(await model.ainvoke("x")).content]}

    return _parallel("streamed", fast, slow), started


# -- 1. an interrupt does not hide a failure ---------------------------------------------


def test_an_interrupt_next_to_a_failure_is_an_error_not_a_run_to_resume():
    calls = {"p2": 0}

    def p1(state: State) -> State:
        return {"log": [interrupt("approve?")]}

    def p2(state: State) -> State:
        calls["p2"] += 1
        if calls["p2"] == 1:
            raise ValueError("real failure")
        return {"log": ["p2"]}

    app = _parallel("mixed", p1, p2, checkpointer=InMemorySaver())
    handler, sink = _handler()
    cfg = {"configurable": {"thread_id": "T1"}, "callbacks": [handler]}
    with pytest.raises(ValueError, match="real failure"):
        app.invoke({"log": []}, cfg)
    handler.flush()
    spans = _by_name(sink)
    root = spans["mixed"]
    assert root.status is SpanStatus.ERROR
    assert root.error is not None and root.error.type == "ValueError"
    assert sc.LG_INTERRUPTED not in root.attributes
    assert spans["p1"].status is SpanStatus.INTERRUPTED  # the node did pause
    assert spans["p2"].status is SpanStatus.ERROR
    assert "T1" not in handler.tracer.ended.interrupted
    assert handler.tracer.open_runs == 0

    # the next run on the thread resumes nothing that paused: no link to the failed trace
    sink.clear()
    app.invoke(Command(resume="yes"), cfg)
    handler.flush()
    (resumed,) = sink.spans(SpanKind.WORKFLOW)
    assert sc.LG_RESUMED_FROM not in resumed.attributes
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_an_interrupt_alone_is_still_a_run_to_resume():
    def ask(state: State) -> State:
        return {"log": [interrupt("approve?")]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    app = g.compile(name="pause", checkpointer=InMemorySaver())
    handler, sink = _handler()
    cfg = {"configurable": {"thread_id": "T2"}, "callbacks": [handler]}
    app.invoke({"log": []}, cfg)
    handler.flush()
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert root.status is SpanStatus.INTERRUPTED
    assert handler.tracer.ended.interrupted["T2"] == root.trace_id
    sink.clear()
    app.invoke(Command(resume="ok"), cfg)
    handler.flush()
    (resumed,) = sink.spans(SpanKind.WORKFLOW)
    assert resumed.attributes[sc.LG_RESUMED_FROM] == root.trace_id
    assert handler.tracer.open_runs == 0
    handler.shutdown()


# -- 2. work that goes on after its span ended stays in its trace -------------------------


@pytest.mark.parametrize(
    ("how", "busy"),
    [("sibling_fails", False), ("caller_times_out", False), ("sibling_fails", True)],
)
async def test_a_sync_node_thread_outliving_its_run_stays_in_the_trace(how: str, busy: bool):
    """A sync node of an async graph runs in a thread; the run ends (a sibling branch
    fails, or the caller's timeout cancels it) while the thread waits; released, the thread
    calls a model. The call is a span of the run's trace, under the node, with its usage:
    not a trace (or a workflow run) of its own. ``busy``: many other traces end in between
    (the finisher keeps only the most recent roots' traces), the call still has its trace's
    workflow and tenant."""
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    model = graphs.chat_model(input_tokens=100, output_tokens=50)
    summarize = RunnableLambda(lambda text: model.invoke(text)).with_config(run_name="summarize")

    def slow(state: State) -> State:  # sync: LangGraph runs it in a thread
        started.set()
        release.wait(WAIT_S)
        try:
            model.invoke("late call")
            summarize.invoke("late chain")
        finally:
            done.set()
        return {"log": ["slow"]}

    async def fail(state: State) -> State:
        await asyncio.to_thread(started.wait, WAIT_S)
        if how == "sibling_fails":
            raise ValueError("branch failed")
        await asyncio.sleep(WAIT_S)
        return {"log": ["fail"]}

    registry = CollectorRegistry()
    handler, sink = _handler(PrometheusSink(registry))
    app = _parallel("late_work", slow, fail)
    run = app.ainvoke({"log": []}, {"callbacks": [handler], "metadata": {"tenant": "acme"}})
    if how == "sibling_fails":
        with pytest.raises(ValueError, match="branch failed"):
            await run
    else:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(run, 0.3)
    others = 100 if busy else 0
    other = RunnableLambda(lambda x: x).with_config(run_name="other")
    for i in range(others):
        other.invoke(i, {"callbacks": [handler]})
    assert handler.flush(WAIT_S)
    release.set()
    assert await asyncio.to_thread(done.wait, WAIT_S)
    assert handler.flush(WAIT_S)

    assert len(sink.traces()) == 1 + others
    assert [w.name for w in sink.of_type(WorkflowStarted)] == ["late_work"] + ["other"] * others
    spans = _by_name(sink)
    root, node = spans["late_work"], spans["slow"]
    llm, inner = sink.spans(SpanKind.LLM)
    chain = spans["summarize"]
    assert root.status is (SpanStatus.ERROR if how == "sibling_fails" else SpanStatus.CANCELLED)
    assert node.status is SpanStatus.CANCELLED and node.error is None
    assert node.attributes[sc.LG_CANCELLED] is True
    # the calls its work started later: under the node (marked), their children under them
    assert llm.parent_span_id == node.span_id and chain.parent_span_id == node.span_id
    assert inner.parent_span_id == chain.span_id
    assert llm.attributes[sc.LG_AFTER_PARENT_END] is True
    assert chain.attributes[sc.LG_AFTER_PARENT_END] is True
    assert sc.LG_AFTER_PARENT_END not in inner.attributes
    for late in (llm, chain, inner):
        assert late.trace_id == root.trace_id and late.status is SpanStatus.OK
        assert late.node == "slow"
        assert late.trace.workflow == "late_work" and late.trace.tenant == "acme"
    for call in (llm, inner):
        assert call.usage is not None and call.usage.input_tokens == 100
        assert call.usage.output_tokens == 50
    workflows = {
        s.labels["workflow"]
        for m in registry.collect()
        if m.name == "langgraph_observe_workflow_runs"
        for s in m.samples
    }
    assert workflows == ({"late_work", "other"} if busy else {"late_work"})
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_runs_started_under_runs_closed_with_their_trace_stay_in_it():
    """A run still open when its trace's root fails is closed with the root's error; what
    its work starts later (a chain folded away, a model call under it) is a span of that
    trace, under it. The run's own late end is ignored."""
    handler, sink = _handler()
    root, node, seq, llm = uuid4(), uuid4(), uuid4(), uuid4()
    handler.on_chain_start({}, {"log": []}, run_id=root, name="g")
    handler.on_chain_start(
        {},
        {"log": []},
        run_id=node,
        parent_run_id=root,
        name="n",
        tags=["graph:step:1"],
        metadata={"langgraph_node": "n", "langgraph_step": 1},
    )
    handler.on_chain_error(ValueError("boom"), run_id=root)
    assert handler.tracer.open_runs == 0
    handler.on_chain_start({}, "x", run_id=seq, parent_run_id=node, name="RunnableSequence")
    handler.on_chat_model_start(
        {}, [[HumanMessage("hi")]], run_id=llm, parent_run_id=seq, name="Late"
    )
    message = AIMessage(
        "a", usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    )
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=llm)
    handler.on_chain_end("a", run_id=seq)
    handler.on_chain_end({"log": []}, run_id=node)  # the orphan's own end, late: ignored
    assert handler.flush(WAIT_S)
    assert len(sink.traces()) == 1 and len(sink.of_type(WorkflowStarted)) == 1
    spans = _by_name(sink)
    assert spans["n"].status is SpanStatus.ERROR and spans["n"].error == spans["g"].error
    late = spans["Late"]
    assert late.trace_id == spans["g"].trace_id and late.parent_span_id == spans["n"].span_id
    assert late.attributes[sc.LG_AFTER_PARENT_END] is True
    assert late.node == "n" and late.usage is not None and late.usage.total == 10
    assert handler.tracer.open_runs == 0
    assert (
        node.int not in handler.tracer.ended.closed and seq.int not in handler.tracer.ended.closed
    )
    handler.shutdown()


def test_the_table_of_ended_runs_is_bounded(monkeypatch):
    monkeypatch.setattr(_run_memory, "MAX_CLOSED_RUNS", 8)
    handler, _sink = _handler()
    for _ in range(20):
        run = uuid4()
        handler.on_chain_start({}, {}, run_id=run, name="g")
        handler.on_chain_error(asyncio.CancelledError(), run_id=run)
    assert len(handler.tracer.ended.closed) == 8
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_a_run_under_an_unknown_parent_still_opens_a_trace():
    handler, sink = _handler()
    run = uuid4()
    handler.on_chain_start({}, {}, run_id=run, parent_run_id=uuid4(), name="alone")
    handler.on_chain_end({}, run_id=run)
    assert handler.flush(WAIT_S)
    (root,) = sink.spans()
    assert root.kind is SpanKind.WORKFLOW and sc.LG_AFTER_PARENT_END not in root.attributes
    handler.shutdown()


# -- 3. stopping an async stream is not an error -----------------------------------------


async def test_astream_break_and_aclose_cancels_the_running_node_without_errors(tmp_path):
    app, _started = _stream_graph()
    registry = CollectorRegistry()
    path = tmp_path / "runs.db"
    handler, sink = _handler(PrometheusSink(registry), LocalStoreSink(path))
    stream = app.astream({"log": []}, {"callbacks": [handler]}, stream_mode="updates")
    async for chunk in stream:
        assert chunk == {"fast": {"log": ["fast"]}}
        break
    await stream.aclose()
    assert handler.flush(WAIT_S)
    _no_cancellation_errors(sink)
    spans = _by_name(sink)
    root = spans["streamed"]
    assert root.status is SpanStatus.OK and root.attributes[sc.LG_STREAM_CLOSED] is True
    assert spans["fast"].status is SpanStatus.OK
    assert spans["slow"].status is SpanStatus.CANCELLED
    (llm,) = sink.spans(SpanKind.LLM)
    assert llm.status is SpanStatus.CANCELLED and llm.error is None
    assert llm.attributes[sc.LG_CANCELLED] is True
    assert handler.tracer.open_runs == 0
    # the sinks: a label value of its own in Prometheus, the status as text in the store
    node_runs = {
        s.labels["node"]: s.labels["status"]
        for m in registry.collect()
        if m.name == "langgraph_observe_node_runs"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert node_runs == {"fast": "ok", "slow": "cancelled"}
    errors = [s for m in registry.collect() for s in m.samples if "_errors_total" in s.name]
    assert [s for s in errors if s.value] == []
    handler.shutdown()
    with LocalStore(path) as store:
        stored = {s["name"]: s["status"] for s in store.spans(trace_id=root.trace_id)}
        assert stored["slow"] == "cancelled" and stored["streamed"] == "ok"
        row = store.trace(root.trace_id)
        assert row is not None and row["status"] == "ok" and row["error_count"] == 0


async def test_astream_events_break_cancels_the_run_without_errors():
    app, _started = _stream_graph()
    handler, sink = _handler()
    events = app.astream_events({"log": []}, {"callbacks": [handler]}, version="v2")
    async for event in events:
        if event["event"] == "on_chain_end" and event["name"] == "fast":
            break
    await events.aclose()
    assert handler.flush(WAIT_S)
    _no_cancellation_errors(sink)
    spans = _by_name(sink)
    assert spans["streamed"].status is SpanStatus.CANCELLED
    assert spans["streamed"].attributes[sc.LG_CANCELLED] is True
    assert spans["slow"].status is SpanStatus.CANCELLED
    assert all(s.error is None for s in sink.spans() if s.name != "fast")
    assert handler.tracer.open_runs == 0
    handler.shutdown()


async def test_a_caller_timeout_cancels_the_run_and_its_model_call():
    app, _started = _stream_graph()
    handler, sink = _handler()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(app.ainvoke({"log": []}, {"callbacks": [handler]}), 0.3)
    assert handler.flush(WAIT_S)
    _no_cancellation_errors(sink)
    spans = _by_name(sink)
    assert spans["streamed"].status is SpanStatus.CANCELLED
    assert spans["slow"].status is SpanStatus.CANCELLED
    assert sink.spans(SpanKind.LLM)[0].status is SpanStatus.CANCELLED
    assert handler.tracer.open_runs == 0
    handler.shutdown()


# -- 4. LangGraph's recursion limit ------------------------------------------------------


def test_the_recursion_limit_is_a_permanent_error():
    def loop(state: State) -> State:
        return {"log": ["again"]}

    g = StateGraph(State)
    g.add_node("loop", loop)
    g.add_edge(START, "loop")
    g.add_conditional_edges("loop", lambda s: "loop", ["loop"])
    app = g.compile(name="looping")
    handler, sink = _handler()
    with pytest.raises(GraphRecursionError):
        app.invoke({"log": []}, {"callbacks": [handler], "recursion_limit": 3})
    handler.flush()
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert root.status is SpanStatus.ERROR and root.error is not None
    assert root.error.type == "langgraph.errors.GraphRecursionError"
    assert root.error.error_class is ErrorClass.PERMANENT
    assert root.attributes[sc.LG_ERROR_CLASS] == "permanent"
    assert classify_error(GraphRecursionError("x")) is ErrorClass.PERMANENT
    assert handler.tracer.open_runs == 0
    handler.shutdown()
