"""The way from the callbacks to the sinks: ended spans packed into plain values, records
built on the dispatcher's thread exactly as they would be on the graph's path, payloads
rendered to the same text, and no thread woken while nothing is queued."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langgraph_observe import CallbackHandler
from langgraph_observe._finish import _pack_io
from langgraph_observe._hooks import Hooks
from langgraph_observe._render import Unplain, plain_copy, render
from langgraph_observe.events import PLAIN_COPY, Payload, Record, SpanRecord
from langgraph_observe.features import FeatureHooks
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


class OnPathHooks(FeatureHooks):
    """The default hooks, with every record built inside the callbacks."""

    @property
    def on_path(self) -> bool:
        return True


def _records(graph: Any, inputs: dict[str, Any], **kwargs: Any) -> list[SpanRecord]:
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], **kwargs)
    graph.invoke(inputs, config={"callbacks": [handler]})
    assert handler.flush()
    handler.shutdown()
    return sink.spans()


def _comparable(r: SpanRecord) -> tuple[Any, ...]:
    return (
        r.name,
        r.kind,
        r.parent_span_id is None,
        r.status,
        r.error,
        r.node,
        r.persona,
        r.model,
        r.provider,
        r.usage,
        r.cost_usd,
        None if r.input is None else r.input.text,
        None if r.output is None else r.output.text,
        {k: v for k, v in r.attributes.items() if k != "langgraph.checkpoint_ns"},
        r.events,
        r.trace.workflow,
    )


@pytest.mark.parametrize("graph", ["linear", "fanout", "subgraph", "retry"])
def test_packed_spans_give_the_records_built_on_the_path(graph):
    build = {
        "linear": graphs.linear_graph,
        "fanout": graphs.fanout_graph,
        "subgraph": graphs.subgraph_graph,
        "retry": lambda: graphs.retry_graph(failures=1),
    }[graph]
    inputs = {"log": [], "topic": "obs"}
    background = _records(build(), inputs)
    on_path = _records(build(), inputs, hooks=OnPathHooks())
    assert len(background) == len(on_path) >= 3
    a = sorted((_comparable(r) for r in background), key=repr)
    b = sorted((_comparable(r) for r in on_path), key=repr)
    assert a == b
    # ids and times are the records' own, and every parent is in the trace
    ids = {r.span_id for r in background}
    assert all(r.parent_span_id is None or r.parent_span_id in ids for r in background)
    assert all(r.start_ns <= r.end_ns for r in background)


def test_capture_io_off_keeps_no_payload_and_still_prices_calls():
    spans = _records(graphs.linear_graph(), {"log": [], "topic": "obs"}, capture_io=False)
    assert spans and all(s.input is None and s.output is None for s in spans)
    llm = [s for s in spans if s.kind.value == "llm"]
    assert llm and all(s.usage is not None for s in llm)
    retriever = [s for s in spans if s.kind.value == "retriever"]
    assert retriever and all("langgraph.retriever.query" not in s.attributes for s in retriever)


def test_capture_io_on_keeps_the_retriever_query():
    spans = _records(graphs.linear_graph(), {"log": [], "topic": "obs"})
    retriever = [s for s in spans if s.kind.value == "retriever"]
    assert retriever[0].attributes["langgraph.retriever.query"] == "langgraph metrics"


PAYLOADS = [
    "text as it is",
    42,
    None,
    {"topic": "x", "notes": ["a", "b"], "n": 1.5, "ok": True},
    [[HumanMessage(content="hi", name="bob")]],
    AIMessage(content="yo", tool_calls=[{"name": "t", "args": {"a": 1}, "id": "1"}]),
    ToolMessage(content="8", tool_call_id="c1"),
    [Document(page_content="p", metadata={"source": "s", "page": 1})],
    {3: "int key", True: "bool key", None: "none key", 2.5: (1, 2)},
    {"set": {3, 1, 2}, "bytes": b"raw"},
    list(range(80)),
    {"deep": [[[[[[[["x"]]]]]]]]},
    (1, "a", None, 1.5),
    {"blocks": [{"type": "text", "text": "hello"}], "nan": float("nan")},
]


@pytest.mark.parametrize("obj", PAYLOADS, ids=lambda o: type(o).__name__)
def test_a_packed_payload_renders_to_the_text_of_the_object(obj):
    value, packed = _pack_io(obj)
    for limit in (4000, 12):
        if packed:
            payload = Payload.of_packed(value, limit, plain=packed == PLAIN_COPY)
        else:
            payload = Payload(value, limit)
        assert payload.text == render(obj, limit)
    if packed:
        assert isinstance(value, bytes) and not gc.is_tracked(value)


def test_plain_copy_leaves_unknown_objects_alone():
    class Custom:
        pass

    with pytest.raises(Unplain):
        plain_copy({"x": Custom()})
    with pytest.raises(Unplain):
        plain_copy([HumanMessage(content="x")] * 60)  # more items than the renderer keeps
    assert plain_copy([HumanMessage(content="x")]) == [{"type": "human", "content": "x"}]


def test_ended_spans_wait_untracked_by_the_garbage_collector():
    handler = CallbackHandler(sinks=[InMemorySink()], flush_interval=60)
    graphs.linear_graph().invoke({"log": [], "topic": "obs"}, config={"callbacks": [handler]})
    dispatcher = handler.dispatcher
    deadline = time.monotonic() + 2
    while dispatcher._intake and time.monotonic() < deadline:  # packed within 20 ms
        time.sleep(0.01)
    waiting = list(dispatcher._ready)
    gc.collect()
    packed = [item for item in waiting if type(item) is tuple]
    assert len(packed) >= 6
    assert not any(gc.is_tracked(item) for item in packed)
    assert handler.flush()
    handler.shutdown()


class CountingSink(BaseSink):
    name = "counting"

    def __init__(self) -> None:
        self.exports = 0
        self.records = 0

    def export(self, records: Sequence[Record]) -> None:
        self.exports += 1
        self.records += len(records)


def test_an_idle_handler_wakes_no_thread():
    sink = CountingSink()
    handler = CallbackHandler(sinks=[sink], flush_interval=0.02)
    dispatcher = handler.dispatcher
    rounds = []
    original = dispatcher._dispatch

    def counted(q: Any) -> None:
        rounds.append(len(q))
        original(q)

    dispatcher._dispatch = counted  # type: ignore[method-assign]
    time.sleep(0.3)
    assert rounds == [] and sink.exports == 0
    graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
    deadline = time.monotonic() + 2
    while sink.records == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.records > 0 and rounds  # the first item woke it, without a flush
    seen = len(rounds)
    time.sleep(0.3)
    assert len(rounds) == seen  # asleep again
    handler.shutdown()


class StuckSink(BaseSink):
    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, records: Sequence[Record]) -> None:
        self.release.wait(10)


def test_a_stuck_sink_does_not_hold_back_the_others():
    stuck, memory = StuckSink(), InMemorySink()
    handler = CallbackHandler(sinks=[stuck, memory], flush_interval=0.05)
    graph = graphs.linear_graph()
    t = time.monotonic()
    for _ in range(40):
        graph.invoke({"log": []}, config={"callbacks": [handler]})
    deadline = time.monotonic() + 5
    while len(memory.spans()) < 40 * 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    # every span reached the healthy sink, promptly, while the other one never returned
    assert len(memory.spans()) == 40 * 8
    assert time.monotonic() - t < 5
    stuck.release.set()
    assert handler.shutdown(timeout=5)


class AfterSpanHooks(Hooks):
    """Custom hooks that look at every record: built on the path by default."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def after_span(self, record: SpanRecord, outputs: Any, emit: Any) -> None:
        self.seen.append(record.name)


def test_hooks_that_watch_span_ends_get_them_on_the_path():
    assert Hooks().on_path is False
    hooks = AfterSpanHooks()
    assert hooks.on_path is True
    handler = CallbackHandler(sinks=[InMemorySink()], hooks=hooks)
    graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
    # seen inside the callbacks, before any flush
    assert "linear" in hooks.seen and "plan" in hooks.seen
    assert FeatureHooks().on_path is False
    handler.shutdown()


def test_no_trace_state_is_left_behind():
    handler = CallbackHandler(sinks=[InMemorySink()])
    graph = graphs.fanout_graph()
    for _ in range(100):
        graph.invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush()
    finisher = handler.tracer.finisher
    assert finisher.traces == {} and handler.tracer.open_runs == 0
    assert len(finisher._recent) <= 64
    handler.shutdown()
