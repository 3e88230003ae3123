"""CallbackHandler on real LangGraph graphs, captured in memory."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessageChunk

from langgraph_observe import CallbackHandler, SpanKind, SpanStatus
from langgraph_observe.testing import InMemorySink, capture

from . import graphs

pytestmark = pytest.mark.unit


def run(graph, inputs=None, **handler_kwargs):
    with capture(**handler_kwargs) as (handler, sink):
        out = graph.invoke(inputs or {"log": []}, config={"callbacks": [handler]})
        assert handler.flush()
        assert handler.tracer.open_runs == 0
    (tree,) = sink.traces().values()
    return out, tree, sink


def test_linear_graph_tree():
    _, tree, _sink = run(graphs.linear_graph(), {"log": [], "topic": "obs"})
    root = tree.root
    assert root.kind is SpanKind.WORKFLOW and root.name == "linear"
    nodes = tree.children(root)
    assert [n.name for n in nodes] == ["plan", "research", "write"]
    assert all(n.kind is SpanKind.NODE for n in nodes)
    assert [n.attributes["langgraph.step"] for n in nodes] == [1, 2, 3]
    assert nodes[0].attributes["langgraph.triggers"]
    llm = tree.children(nodes[0])[0]
    assert llm.kind is SpanKind.LLM and llm.node == "plan"
    assert llm.usage.input_tokens == 12 and llm.usage.output_tokens == 6
    assert llm.usage.total_tokens == 18 and not llm.usage.estimated
    assert llm.provider == "genericfakechatmodel"
    assert llm.attributes["gen_ai.operation.name"] == "chat"
    research = tree.children(nodes[1])
    assert [(s.kind, s.name) for s in research] == [
        (SpanKind.RETRIEVER, "KeywordRetriever"),
        (SpanKind.TOOL, "word_count"),
    ]
    assert research[0].attributes["langgraph.retriever.documents"] == 2
    assert research[0].attributes["langgraph.retriever.query"] == "langgraph metrics"
    assert research[1].output.text == "4"
    assert research[1].attributes["gen_ai.tool.name"] == "word_count"
    # every span of the trace shares the trace context and has its parent in the tree
    for s in tree.spans:
        assert s.trace is root.trace
        assert s.parent_span_id is None or s.parent_span_id in tree.by_id
        assert s.start_ns <= s.end_ns
        assert s.status is SpanStatus.OK
    assert len(tree.spans) == 1 + 3 + 2 + 2  # workflow, nodes, llms, retriever+tool
    assert len({s.span_id for s in tree.spans}) == len(tree.spans)


def test_plumbing_is_folded_and_can_be_kept():
    _, tree, _ = run(graphs.fanout_graph(3))
    names = sorted(s.name for s in tree.spans)
    assert "route" not in names and "__start__" not in names
    assert names.count("worker") == 3
    _, kept, _ = run(graphs.fanout_graph(3), keep_plumbing=True)
    assert any(s.name == "route" for s in kept.spans)
    assert len(kept.spans) > len(tree.spans)


def test_send_fanout_branches_are_siblings():
    _, tree, _ = run(graphs.fanout_graph(4))
    workers = tree.find("worker", SpanKind.NODE)
    assert len(workers) == 4
    assert {w.parent_span_id for w in workers} == {tree.root.span_id}
    assert len({w.attributes["langgraph.checkpoint_ns"] for w in workers}) == 4
    for w in workers:
        (llm,) = tree.children(w)
        assert llm.kind is SpanKind.LLM and llm.node == "worker"


def test_subgraph_nested_under_calling_node():
    _, tree, _ = run(graphs.subgraph_graph())
    inner_node = tree.one("inner", SpanKind.NODE)
    (sub,) = tree.children(inner_node)
    assert sub.kind is SpanKind.SUBGRAPH
    (step,) = tree.children(sub)
    assert step.kind is SpanKind.NODE and step.name == "inner_step"
    (llm,) = tree.children(step)
    assert llm.kind is SpanKind.LLM
    assert [a.name for a in tree.ancestors(llm)][-1] == "outer"


def test_retries_every_attempt_visible():
    _, tree, _ = run(graphs.retry_graph(failures=2))
    attempts = sorted(tree.find("flaky", SpanKind.NODE), key=lambda s: s.start_ns)
    assert [a.attributes["langgraph.attempt"] for a in attempts] == [1, 2, 3]
    assert [a.status for a in attempts] == [SpanStatus.ERROR, SpanStatus.ERROR, SpanStatus.OK]
    assert attempts[0].error.type == "ConnectionError"
    assert attempts[0].error.error_class.value == "network"
    assert attempts[0].error.message == "attempt 1 failed"
    assert tree.root.status is SpanStatus.OK


def test_failing_node_error_passes_through_unchanged():
    error = KeyError("missing")
    with capture() as (handler, sink), pytest.raises(KeyError) as raised:
        graphs.failing_graph(error).invoke({"log": []}, config={"callbacks": [handler]})
    assert raised.value is error
    handler.flush()
    (tree,) = sink.traces().values()
    boom = tree.one("boom", SpanKind.NODE)
    assert boom.status is SpanStatus.ERROR and boom.error.type == "KeyError"
    assert boom.error.error_class.value == "permanent"
    assert tree.root.status is SpanStatus.ERROR
    assert tree.one("ok").status is SpanStatus.OK
    assert handler.tracer.open_runs == 0


async def test_async_invoke_same_tree_as_sync():
    graph = graphs.linear_graph()
    with capture() as (handler, sink):
        await graph.ainvoke({"log": []}, config={"callbacks": [handler]})
        handler.flush()
    (tree,) = sink.traces().values()
    assert [n.name for n in tree.children(tree.root)] == ["plan", "research", "write"]
    assert len(tree.find(kind=SpanKind.LLM)) == 2


async def test_200_concurrent_ainvoke_one_handler():
    graph = graphs.fanout_graph(2)
    with capture() as (handler, sink):
        await asyncio.gather(
            *(graph.ainvoke({"log": []}, config={"callbacks": [handler]}) for _ in range(200))
        )
        assert handler.flush()
        assert handler.tracer.open_runs == 0
    traces = sink.traces()
    assert len(traces) == 200
    for tree in traces.values():
        # workflow + start + 2 workers + 2 llms + join
        assert len(tree.spans) == 7, tree.render()
        root = tree.root
        for s in tree.spans:
            assert s.trace_id == root.trace_id
            assert s.parent_span_id is None or s.parent_span_id in tree.by_id
    assert handler.health.total_dropped == 0


def test_threads_share_one_handler():
    from concurrent.futures import ThreadPoolExecutor

    graph = graphs.fanout_graph(3)
    with capture() as (handler, sink):
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda _: graph.invoke({"log": []}, config={"callbacks": [handler]}), range(40)
                )
            )
        handler.flush()
        assert handler.tracer.open_runs == 0
    traces = sink.traces()
    assert len(traces) == 40
    assert all(len(t.spans) == 9 for t in traces.values())


def test_streaming_messages_time_to_first_token():
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, StateGraph

    usage = {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    model = graphs.StreamingUsageModel(
        messages=iter([AIMessage(content="one two three")]), usage=usage
    )

    def talk(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke("hi").content]}

    g = StateGraph(graphs.State)
    g.add_node("talk", talk)
    g.add_edge(START, "talk")
    g.add_edge("talk", END)
    graph = g.compile(name="streamer")
    with capture() as (handler, sink):
        chunks = [
            c
            for c, _meta in graph.stream(
                {"log": []}, config={"callbacks": [handler]}, stream_mode="messages"
            )
        ]
        handler.flush()
    assert any(isinstance(c, AIMessageChunk) for c in chunks)
    (llm,) = sink.spans(SpanKind.LLM)
    assert llm.attributes["langgraph.llm.streaming"] is True
    ttft = llm.attributes["langgraph.llm.time_to_first_token_s"]
    assert 0 <= ttft <= llm.duration_s
    assert llm.usage.input_tokens == 9 and llm.usage.output_tokens == 3
    assert not llm.usage.estimated


def test_interrupt_and_resume_are_linked():
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command, interrupt

    def ask(state: graphs.State) -> graphs.State:
        return {"log": [interrupt("approve?")]}

    graph = graphs.chain_graph(("ask", ask), name="approval", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "th-1"}}
    with capture() as (handler, sink):
        first = graph.invoke({"log": []}, config={**config, "callbacks": [handler]})
        assert "__interrupt__" in first
        graph.invoke(Command(resume="yes"), config={**config, "callbacks": [handler]})
        handler.flush()
        assert handler.tracer.open_runs == 0
    roots = sorted((s for s in sink.spans(SpanKind.WORKFLOW)), key=lambda s: s.start_ns)
    assert [r.status for r in roots] == [SpanStatus.INTERRUPTED, SpanStatus.OK]
    assert roots[0].error is None
    assert roots[1].attributes["langgraph.resumed_from_trace_id"] == roots[0].trace_id
    asks = sorted(sink.spans(SpanKind.NODE), key=lambda s: s.start_ns)
    assert asks[0].status is SpanStatus.INTERRUPTED and asks[1].status is SpanStatus.OK
    assert roots[0].trace.thread_id == "th-1"


def test_trace_attribution_from_run_config():
    graph = graphs.linear_graph()
    with capture() as (handler, sink):
        graph.invoke(
            {"log": []},
            config={
                "callbacks": [handler],
                "tags": ["prod"],
                "run_name": "nightly",
                "metadata": {"tenant": "acme", "user_id": "u-1", "session_id": "s-9"},
            },
        )
        handler.flush()
    (tree,) = sink.traces().values()
    ctx = tree.root.trace
    assert (ctx.workflow, ctx.tenant, ctx.user_id, ctx.session_id) == (
        "nightly",
        "acme",
        "u-1",
        "s-9",
    )
    assert "prod" in ctx.tags


def test_inputs_and_outputs_truncated():
    with capture(max_payload_chars=20) as (handler, sink):
        graphs.linear_graph().invoke(
            {"log": [], "topic": "x" * 500}, config={"callbacks": [handler]}
        )
        handler.flush()
    root = next(iter(sink.traces().values())).root
    assert len(root.input.text) == 20 and root.input.text.endswith("…")
    with capture(capture_io=False) as (handler, sink):
        graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
        handler.flush()
    assert all(s.input is None and s.output is None for s in sink.spans())


def test_state_is_bounded_for_runs_that_never_end():
    from uuid import uuid4

    with capture(max_open_runs=50) as (handler, _sink):
        for _ in range(500):
            handler.on_chain_start(None, {}, run_id=uuid4(), name="never-ends")
        assert handler.tracer.open_runs <= 50
        assert handler.health.dropped[("tracer", "open_run_evicted")] == 450


def test_our_errors_never_reach_the_graph(monkeypatch):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STRICT", "0")
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])

    def explode(*a, **k):
        raise RuntimeError("bug in the tracer")

    monkeypatch.setattr(handler.tracer, "start", explode)
    out = graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
    assert out["log"][-1] == "final answer"
    handler.shutdown()


def test_flush_and_shutdown_twice():
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush() and handler.flush()
    n = len(sink.spans())
    assert n == 8
    assert handler.shutdown() and handler.shutdown()


def test_model_called_outside_a_graph_is_an_llm_root():
    model = graphs.chat_model("hi", 3, 2)
    with capture() as (handler, sink):
        model.invoke("hello", config={"callbacks": [handler]})
        handler.flush()
    (span,) = sink.spans()
    assert span.kind is SpanKind.LLM and span.parent_span_id is None
    assert span.usage.total_tokens == 5
    assert not [r for r in sink.records if type(r).__name__ == "WorkflowStarted"]


def test_budget_error_is_not_retried_by_default_retry_policy():
    from langgraph.types import RetryPolicy

    from langgraph_observe import QualityGateFailed, TokenBudgetExceeded

    retry_on = RetryPolicy().retry_on
    assert callable(retry_on)
    assert retry_on(TokenBudgetExceeded("p", used=10, budget=10, requested=5)) is False
    assert retry_on(QualityGateFailed("g", "n")) is False
    assert retry_on(ConnectionError()) is True


@pytest.mark.e2e
def test_process_exit_flushes_the_sinks(tmp_path):
    """A script that never calls flush() or shutdown() still leaves its trace in the store."""
    import os
    import subprocess
    import sys
    import textwrap

    from langgraph_observe.store import LocalStore

    db = tmp_path / "exit.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from langgraph_observe import CallbackHandler
        from tests import graphs
        handler = CallbackHandler(flush_interval=60)  # the worker would not wake on its own
        graphs.linear_graph().invoke({{"log": []}}, config={{"callbacks": [handler]}})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "LANGGRAPH_OBSERVE_STORE": str(db), "LANGGRAPH_OBSERVE_SINKS": "local"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with LocalStore(db) as store:
        (trace,) = store.traces()
        assert trace["status"] == "ok" and trace["span_count"] == 8


def test_many_open_handlers_warn_once(caplog, monkeypatch):
    from langgraph_observe import _open_dispatchers

    monkeypatch.setattr(_open_dispatchers, "_warned_many", False)
    monkeypatch.setattr(_open_dispatchers, "MANY_DISPATCHERS", 3)
    handlers = [CallbackHandler(sinks=[InMemorySink()]) for _ in range(6)]
    try:
        warnings = [r for r in caplog.records if "handlers are open" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        for h in handlers:
            h.shutdown()
