"""RAG and memory sub-steps: nesting under nodes, retrievers and each other, in sync and async
code; counts, timings, costs; through memory and the local store."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, FeatureHooks, SpanKind, SpanStatus, persona, rag
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink, SpanTree

from . import graphs

pytestmark = pytest.mark.unit

DOCS = [Document(page_content=f"doc {i}", metadata={"score": 1 - i / 10}) for i in range(6)]


class VectorRetriever(BaseRetriever):
    """A retriever whose inner steps are recorded under its own span."""

    @rag.search("vector_search", top_k=4)
    def _get_relevant_documents(self, query, *, run_manager):
        with rag.embedding(model="text-embedding-3-small", run_manager=run_manager) as step:
            step.usage(input_tokens=len(query.split()) * 10)
        return DOCS[:4]


def retrieve(state):
    with rag.memory("read", namespace="profile") as step:
        step.set(items=2)
    docs = VectorRetriever().invoke(state.get("topic", "what is langgraph"))
    with rag.rerank(documents_in=len(docs), model="rerank-v3") as step:
        with rag.step("score_pairs") as inner:
            inner.set(pairs=len(docs))
        best = docs[:2]
        step.documents(out=len(best), top_score=best[0].metadata["score"])
    with rag.format_context(documents_in=len(best)) as step:
        step.output("\n".join(d.page_content for d in best))
    with rag.memory("write", namespace="history"):
        pass
    return {"log": [len(best)]}


async def aretrieve(state):
    async with rag.search("async_search", query="q") as outer:
        await asyncio.sleep(0)
        async with rag.embedding(model="text-embedding-3-small") as emb:
            await asyncio.sleep(0)
            emb.usage(input_tokens=1000)
        outer.documents(out=3, top_score=0.5)
    return {"log": ["a"]}


def graph_of(fn, name="rag"):
    g = StateGraph(graphs.State)
    g.add_node("retrieve", fn)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", END)
    return g.compile(name=name)


def check_tree(tree: SpanTree) -> None:
    node = tree.one("retrieve", SpanKind.NODE)
    children = tree.children(node)
    assert [(c.kind, c.name) for c in children] == [
        (SpanKind.MEMORY, "memory.read"),
        (SpanKind.RETRIEVER, "VectorRetriever"),
        (SpanKind.RERANK, "rerank"),
        (SpanKind.FORMAT, "format"),
        (SpanKind.MEMORY, "memory.write"),
    ]
    read, retriever, rerank, fmt, write = children
    assert read.attributes["langgraph.memory.operation"] == "read"
    assert read.attributes["langgraph.memory.namespace"] == "profile"
    assert read.attributes["langgraph.memory.items"] == 2
    (search,) = tree.children(retriever)
    assert (search.kind, search.name) == (SpanKind.RETRIEVER, "vector_search")
    assert search.attributes["langgraph.rag.documents_out"] == 4
    assert search.attributes["langgraph.rag.top_k"] == 4
    (embedding,) = tree.children(search)
    assert embedding.kind is SpanKind.EMBEDDING and embedding.model == "text-embedding-3-small"
    assert embedding.usage.input_tokens == 30
    assert embedding.cost_usd == pytest.approx(30 * 0.02 / 1e6)
    assert embedding.attributes["gen_ai.operation.name"] == "embeddings"
    assert rerank.attributes["langgraph.rag.documents_in"] == 4
    assert rerank.attributes["langgraph.rag.documents_out"] == 2
    assert rerank.attributes["langgraph.rag.top_score"] == 1.0
    assert rerank.cost_usd is None  # only model and embedding calls carry a cost
    (inner,) = tree.children(rerank)
    assert inner.kind is SpanKind.STEP and inner.attributes["pairs"] == 4
    assert fmt.output.text == "doc 0\ndoc 1"
    assert write.attributes["langgraph.memory.operation"] == "write"
    for s in tree.spans:
        assert s.node in (None, "retrieve")
        parent = tree.parent(s)
        if parent is not None:
            assert parent.start_ns <= s.start_ns <= s.end_ns <= parent.end_ns
    assert node.node == "retrieve" and all(c.node == "retrieve" for c in children)


def test_sub_steps_nest_in_sync_code(tmp_path):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink, LocalStoreSink(tmp_path / "rag.db")])
    graph_of(retrieve).invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    assert handler.tracer.open_runs == 0
    (tree,) = sink.traces().values()
    check_tree(tree)
    with LocalStore(tmp_path / "rag.db") as store:
        rows = store.spans(trace_id=tree.root.trace_id)
    kinds = sorted(r["kind"] for r in rows)
    assert kinds.count("memory") == 2 and "rerank" in kinds and "format" in kinds
    (emb,) = [r for r in rows if r["kind"] == "embedding"]
    assert emb["parent_span_id"] == next(r for r in rows if r["name"] == "vector_search")["span_id"]


def test_sub_steps_nest_in_async_code_and_concurrent_runs():
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph = graph_of(aretrieve, "arag")

    async def main():
        await asyncio.gather(
            *(graph.ainvoke({"log": []}, config={"callbacks": [handler]}) for _ in range(20))
        )

    asyncio.run(main())
    handler.shutdown()
    assert handler.tracer.open_runs == 0
    traces = sink.traces()
    assert len(traces) == 20
    for tree in traces.values():
        node = tree.one("retrieve", SpanKind.NODE)
        (search,) = tree.children(node)
        (emb,) = tree.children(search)
        assert (search.name, emb.kind) == ("async_search", SpanKind.EMBEDDING)
        assert emb.cost_usd == pytest.approx(1000 * 0.02 / 1e6)
        assert search.attributes["langgraph.retriever.query"] == "q"


def test_sub_step_errors_pass_through_and_are_recorded():
    def broken(state):
        with rag.search("search"):
            raise LookupError("index offline")

    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    with pytest.raises(LookupError, match="index offline"):
        graph_of(broken).invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    assert handler.tracer.open_runs == 0
    search = next(s for s in sink.spans() if s.name == "search")
    assert search.status is SpanStatus.ERROR and search.error.type == "LookupError"


def test_sub_steps_take_the_persona_and_do_nothing_outside_a_run():
    def node(state):
        with persona("librarian"), rag.search("lookup") as step:
            step.documents(out=1)
        with rag.format_context():
            pass
        return {"log": ["x"]}

    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=FeatureHooks(personas={"retrieve": "writer"}))
    graph_of(node).invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    spans = {s.name: s for s in sink.spans()}
    assert spans["lookup"].persona == "librarian"
    assert spans["format"].persona == "writer"
    # no run: a no-op that still runs the body
    with rag.search("alone") as step:
        step.documents(out=3)

    @rag.rerank("decorated")
    def plain(x):
        return [x, x]

    assert plain(1) == [1, 1]


def _one_trace(node_fn):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph_of(node_fn).invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    assert handler.tracer.open_runs == 0
    (tree,) = sink.traces().values()  # one trace: no step escaped into a trace of its own
    return tree


def test_steps_may_end_in_another_order_than_they_began():
    def node(state):
        outer, inner = rag.search("A"), rag.rerank("B")
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
        inner.__exit__(None, None, None)
        with rag.format_context("after"):
            pass
        return {"log": ["x"]}

    tree = _one_trace(node)
    (after,) = [s for s in tree.spans if s.name == "after"]
    assert tree.parent(after).kind is SpanKind.NODE


def test_decorators_without_parentheses_and_with_inputs():
    @rag.search
    def find():
        return ["d1", "d2"]

    @rag.step("prepare", inputs={"a": 1})
    def prepare():
        return "ready"

    def node(state):
        assert find() == ["d1", "d2"] and prepare() == "ready"
        return {"log": ["x"]}

    tree = _one_trace(node)
    by_name = {s.name: s for s in tree.spans}
    assert by_name["search"].kind is SpanKind.RETRIEVER
    assert by_name["search"].attributes["langgraph.rag.documents_out"] == 2
    assert by_name["prepare"].input.text == '{"a":1}'


def test_a_decorated_generator_is_a_step_while_the_caller_iterates():
    @rag.search("stream_hits")
    def stream_hits(query):
        for doc in DOCS[:3]:
            with rag.rerank("score_one"):
                pass
            yield doc

    @rag.search("failing_stream")
    def failing_stream():
        yield DOCS[0]
        raise LookupError("index went away")

    @rag.search("astream_hits")
    async def astream_hits():
        for doc in DOCS[:2]:
            await asyncio.sleep(0)
            yield doc

    async def collect():
        return [d async for d in astream_hits()]

    def node(state):
        assert len(list(stream_hits("q"))) == 3
        with pytest.raises(LookupError, match="went away"):
            list(failing_stream())
        assert len(asyncio.run(collect())) == 2
        return {"log": ["x"]}

    tree = _one_trace(node)
    by_name = {s.name: s for s in tree.spans}
    stream = by_name["stream_hits"]
    assert stream.attributes["langgraph.rag.documents_out"] == 3
    assert [c.name for c in tree.children(stream)] == ["score_one"] * 3  # inside the step
    failed = by_name["failing_stream"]
    assert failed.status is SpanStatus.ERROR and failed.error.type == "LookupError"
    assert by_name["astream_hits"].attributes["langgraph.rag.documents_out"] == 2
