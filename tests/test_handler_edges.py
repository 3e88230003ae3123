"""The span tree at the edges of real LangGraph use: cancelled calls, nodes made of chains,
streams the caller stops reading, graphs wrapped in other runnables."""

from __future__ import annotations

import asyncio
import logging

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, SpanKind, SpanStatus
from langgraph_observe import semconv as sc
from langgraph_observe.testing import InMemorySink

from . import graphs
from .graphs import State

pytestmark = pytest.mark.unit


def _handler() -> tuple[CallbackHandler, InMemorySink]:
    sink = InMemorySink()
    return CallbackHandler(sinks=[sink]), sink


def _one_node(fn, name: str = "g"):
    g = StateGraph(State)
    g.add_node("n1", fn)
    g.add_edge(START, "n1")
    g.add_edge("n1", END)
    return g.compile(name=name)


class SlowModel(GenericFakeChatModel):
    async def _agenerate(self, *args, **kwargs):
        await asyncio.sleep(5)
        return await super()._agenerate(*args, **kwargs)


async def test_a_model_call_cut_off_by_cancellation_is_closed_with_its_trace():
    model = SlowModel(messages=iter([AIMessage(content="late")]))

    async def ask(state):
        return {"log": [(await model.ainvoke("x")).content]}

    handler, sink = _handler()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(_one_node(ask).ainvoke({"log": []}, {"callbacks": [handler]}), 0.2)
    handler.flush()
    assert handler.tracer.open_runs == 0
    (llm,) = sink.spans(SpanKind.LLM)
    (root,) = sink.spans(SpanKind.WORKFLOW)
    # the caller's timeout cancelled the run: not a failure of the work
    assert root.status is SpanStatus.CANCELLED and root.error is None
    assert llm.status is SpanStatus.CANCELLED and llm.error is None
    assert llm.end_ns == root.end_ns
    handler.shutdown()


def test_every_step_of_a_node_made_of_a_chain_is_kept():
    chain = (
        ChatPromptTemplate.from_messages([("human", "{log}")])
        | graphs.chat_model("c", 1, 1)
        | StrOutputParser()
        | RunnableLambda(lambda text: {"log": [text]}, name="to_state")
    )
    g = StateGraph(State)
    g.add_node("seq", chain)
    g.add_node("after", lambda s: {"log": ["after"]})
    g.add_edge(START, "seq")
    g.add_conditional_edges("seq", lambda s: "after", ["after"])  # a router: plumbing
    g.add_edge("after", END)
    handler, sink = _handler()
    g.compile().invoke({"log": []}, {"callbacks": [handler]})
    handler.flush()
    seq = next(s for s in sink.spans(SpanKind.NODE) if s.node == "seq")
    children = sorted(
        (s for s in sink.spans() if s.parent_span_id == seq.span_id), key=lambda s: s.start_ns
    )
    assert [c.name for c in children] == [
        "ChatPromptTemplate",
        "GenericFakeChatModel",
        "StrOutputParser",
        "to_state",
    ]
    handler.shutdown()


def test_a_stream_the_caller_stops_reading_is_not_an_error():
    handler, sink = _handler()
    for _chunk in graphs.linear_graph().stream({"log": []}, {"callbacks": [handler]}):
        break
    handler.flush()
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert root.status is SpanStatus.OK and root.error is None
    assert root.attributes[sc.LG_STREAM_CLOSED] is True
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_a_graph_wrapped_in_a_sequence_is_no_subgraph():
    handler, sink = _handler()
    wrapped = RunnableLambda(lambda x: x, name="prep") | graphs.linear_graph()
    wrapped.invoke({"log": []}, {"callbacks": [handler]})
    handler.flush()
    assert sink.spans(SpanKind.SUBGRAPH) == []
    assert len(sink.spans(SpanKind.NODE)) == 3
    handler.shutdown()


def test_langchains_keyed_parallel_and_assign_are_plumbing():
    from langgraph_observe.adapters._callbacks import PLUMBING_PREFIXES

    assert "RunnableParallel<raw>".startswith(PLUMBING_PREFIXES)
    assert "RunnableAssign<parsed,parsing_error>".startswith(PLUMBING_PREFIXES)


def test_an_answer_of_tool_calls_without_usage_has_its_calls_estimated():
    """A model that reports no usage: output tokens are estimated from the answer's text
    and its tool calls (their names and arguments are billed as output too)."""
    call = {"name": "lookup_order", "args": {"order_id": "A-1234", "fields": ["status", "eta"]}}
    answers = [AIMessage("", tool_calls=[{**call, "id": "call_1"}]), AIMessage("")]
    models = [GenericFakeChatModel(messages=iter([a])) for a in answers]
    handler, sink = _handler()

    def ask(state):
        for model in models:
            model.invoke("where is my order?")
        return {"log": ["asked"]}

    _one_node(ask).invoke({"log": []}, {"callbacks": [handler]})
    handler.shutdown(5)
    with_calls, empty = sorted(sink.spans(SpanKind.LLM), key=lambda s: s.start_ns)
    assert with_calls.usage.estimated and empty.usage.estimated
    assert empty.usage.output_tokens == 0
    assert with_calls.usage.output_tokens >= 10  # the name and the JSON arguments


@pytest.mark.parametrize("given", ["uuid text", "any text"])
def test_a_run_id_given_as_text_names_the_trace(given):
    from uuid import NAMESPACE_URL, uuid4, uuid5

    from . import graphs

    run_id = str(uuid4()) if given == "uuid text" else "nightly-release-42"
    handler, sink = _handler()
    graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler], "run_id": run_id})
    assert handler.flush(10)
    expected = run_id.replace("-", "") if given == "uuid text" else uuid5(NAMESPACE_URL, run_id).hex
    assert list(sink.traces()) == [expected]  # one trace, every span in it
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert root.status is SpanStatus.OK and len(sink.spans()) > 5
    assert handler.tracer.open_runs == 0
    handler.shutdown()


def test_config_and_hooks_together_are_refused_when_the_hooks_would_replace_it(tmp_path):
    from langgraph_observe import CallbackHandler, FeatureHooks

    path = tmp_path / "observe.yaml"
    path.write_text("personas:\n  writer:\n    budget_tokens: 10\n")
    with pytest.raises(ValueError, match="personas"):
        CallbackHandler(sinks=[], config=path, hooks=FeatureHooks())
    settings_only = tmp_path / "settings.yaml"
    settings_only.write_text("capture_io: false\n")
    handler = CallbackHandler(sinks=[], config=settings_only, hooks=FeatureHooks())
    assert handler.settings.capture_io is False
    handler.shutdown()


def test_a_run_after_shutdown_warns_once_and_counts_its_records(caplog):
    from . import graphs

    handler, sink = _handler()
    graph = graphs.linear_graph()
    assert handler.shutdown()
    with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
        graph.invoke({"log": []}, {"callbacks": [handler]})
        graph.invoke({"log": []}, {"callbacks": [handler]})
    warnings = [r for r in caplog.records if "shut down" in r.getMessage()]
    assert len(warnings) == 1
    assert sink.spans() == []
    assert handler.health.dropped[(sink.name, "closed")] > 0
