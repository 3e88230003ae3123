"""Personas: mapping, decorator, context manager; switch counting; time per persona."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_observe import CallbackHandler, FeatureHooks, SpanKind, persona, persona_time
from langgraph_observe.events import PersonaSwitch, SpanRecord, TraceContext
from langgraph_observe.personas import current_persona, node_personas, switch_pairs
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


def run(graph, hooks=None, inputs=None):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=hooks)
    asyncio.run(graph.ainvoke(inputs or {"log": []}, config={"callbacks": [handler]}))
    handler.flush()
    assert handler.tracer.open_runs == 0
    handler.shutdown()
    (tree,) = sink.traces().values()
    return tree, sink


def review_graph():
    model = graphs.chat_model("ok", 10, 2)

    @persona("author")
    def draft(state):
        model.invoke("draft")
        with persona("reviewer"):
            model.invoke("review 1")
            model.invoke("review 2")
        model.invoke("fix")
        return {"log": ["drafted"]}

    @persona("publisher")
    async def ship(state):
        await model.ainvoke("ship")
        return {"log": ["shipped"]}

    g = StateGraph(graphs.State)
    g.add_node("draft", draft)
    g.add_node("ship", ship)
    g.add_edge(START, "draft")
    g.add_edge("draft", "ship")
    g.add_edge("ship", END)
    return g


def test_decorator_and_context_manager_with_a_plain_handler():
    builder = review_graph()
    assert node_personas(builder) == {"draft": "author", "ship": "publisher"}
    graph = builder.compile(name="review")
    assert node_personas(graph) == {"draft": "author", "ship": "publisher"}
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    asyncio.run(graph.ainvoke({"log": []}, config={"callbacks": [handler]}))
    handler.shutdown()
    (tree,) = sink.traces().values()
    draft = tree.one("draft", SpanKind.NODE)
    assert draft.persona == "author" and draft.attributes["langgraph.persona"] == "author"
    assert tree.one("ship", SpanKind.NODE).persona == "publisher"
    llms = sorted(tree.children(draft), key=lambda s: s.start_ns)
    assert [s.persona for s in llms] == ["author", "reviewer", "reviewer", "author"]
    assert [s.attributes["langgraph.persona"] for s in llms] == [
        "author",
        "reviewer",
        "reviewer",
        "author",
    ]
    # one block = one switch there and one back, however many calls it makes
    switches = sink.of_type(PersonaSwitch)
    assert [(s.from_persona, s.to_persona) for s in switches] == [
        ("author", "reviewer"),
        ("reviewer", "author"),
        ("author", "publisher"),
    ]
    assert [e.attributes for e in draft.events if e.name == "persona_switch"] == [
        {"from": "author", "to": "reviewer"},
        {"from": "reviewer", "to": "author"},
    ]


def test_mapping_wins_over_decorator_and_outside_a_run():
    graph = review_graph().compile()
    tree, sink = run(graph, FeatureHooks(personas={"draft": "lead"}))
    draft = tree.one("draft", SpanKind.NODE)
    assert draft.persona == "lead"
    # the mapping wins for the calls inside the decorated body too; a `with persona(...)`
    # block inside it still switches there and back
    calls = [c.persona for c in tree.children(draft) if c.kind is SpanKind.LLM]
    assert calls == ["lead", "reviewer", "reviewer", "lead"]
    pairs = switch_pairs(sink.records)
    assert ("lead", "author") not in pairs
    assert pairs[("lead", "reviewer")] == 1 and pairs[("reviewer", "lead")] == 1
    assert current_persona() is None
    with persona("solo"):
        assert current_persona() == "solo"
        with persona("inner"):
            assert current_persona() == "inner"
        assert current_persona() == "solo"
    assert current_persona() is None


def test_a_block_in_an_unmapped_node_names_only_its_own_calls():
    model = graphs.chat_model("ok", 10, 2)

    def plain(state):
        model.invoke("before")
        with persona("ops"):
            model.invoke("inside")
        model.invoke("after")
        return {"log": ["done"]}

    tree, _ = run(graphs.chain_graph(("plain", plain)))
    node = tree.one("plain", SpanKind.NODE)
    assert node.persona is None  # the node was never given one
    calls = sorted(tree.children(node), key=lambda s: s.start_ns)
    assert [c.persona for c in calls] == [None, "ops", None]


def test_a_decorated_node_of_a_subgraph_is_not_overridden_by_the_outer_node():
    model = graphs.chat_model("ok", 10, 2)

    @persona("tester")
    def inner(state):
        model.invoke("test")
        return {"log": ["tested"]}

    outer = graphs.chain_graph(("outer", graphs.chain_graph(("inner", inner))))
    tree, sink = run(outer, FeatureHooks(personas={"outer": "lead"}))
    assert tree.one("outer", SpanKind.NODE).persona == "lead"
    inner_node = tree.one("inner", SpanKind.NODE)
    assert inner_node.persona == "tester"
    assert [c.persona for c in tree.children(inner_node)] == ["tester"]
    assert [(s.from_persona, s.to_persona) for s in sink.of_type(PersonaSwitch)] == [
        ("lead", "tester")
    ]


def test_parallel_branches_are_counted_in_start_order():
    model = graphs.chat_model("ok", 3, 1)

    def start(state):
        return {"log": ["start"]}

    def worker(state):
        return {"log": [model.invoke(state["topic"]).content]}

    def critic(state):
        return {"log": [model.invoke(state["topic"]).content]}

    def join(state):
        return {"log": ["join"]}

    g = StateGraph(graphs.State)
    for fn in (start, worker, critic, join):
        g.add_node(fn.__name__, fn)
    g.add_edge(START, "start")
    g.add_conditional_edges(
        "start",
        lambda s: [Send("worker", {"topic": t}) for t in "ab"] + [Send("critic", {"topic": "c"})],
        ["worker", "critic"],
    )
    g.add_edge(["worker", "critic"], "join")
    g.add_edge("join", END)
    hooks = FeatureHooks(
        personas={"start": "lead", "worker": "dev", "critic": "qa", "join": "lead"}
    )
    tree, sink = run(g.compile(name="parallel"), hooks)
    nodes = sorted(tree.find(kind=SpanKind.NODE), key=lambda s: s.start_ns)
    expected = []
    previous = None
    for n in nodes:
        if previous is not None and n.persona != previous:
            expected.append((previous, n.persona))
        previous = n.persona
    switches = sink.of_type(PersonaSwitch)
    assert [(s.from_persona, s.to_persona) for s in switches] == expected
    assert expected[0] == ("lead", nodes[1].persona) and expected[-1][1] == "lead"
    for llm in tree.find(kind=SpanKind.LLM):
        assert llm.persona == tree.parent(llm).persona  # branches keep their own persona


def test_persona_time_counts_nested_nodes_once():
    ctx = TraceContext("0" * 32, "wf")

    def span(sid, parent, kind, persona, start, end):
        return SpanRecord(ctx, sid, parent, sid, kind, start, end, persona=persona)

    spans = [
        span("root", None, SpanKind.WORKFLOW, None, 0, 10_000_000_000),
        span("a", "root", SpanKind.NODE, "dev", 0, 4_000_000_000),
        span("b", "root", SpanKind.NODE, "ops", 4_000_000_000, 10_000_000_000),
        span("sub", "b", SpanKind.SUBGRAPH, "ops", 5_000_000_000, 9_000_000_000),
        span("c", "sub", SpanKind.NODE, "qa", 5_000_000_000, 8_000_000_000),
        span("llm", "c", SpanKind.LLM, "qa", 5_000_000_000, 7_000_000_000),
        span("d", "root", SpanKind.NODE, None, 0, 1_000_000_000),
    ]
    assert persona_time(spans) == pytest.approx({"dev": 4.0, "ops": 3.0, "qa": 3.0, "": 1.0})


def test_persona_time_on_a_real_subgraph():
    hooks = FeatureHooks(personas={"prepare": "lead", "inner": "lead", "inner_step": "dev"})
    tree, _ = run(graphs.subgraph_graph(), hooks)
    seconds = persona_time(tree.spans)
    inner = tree.one("inner", SpanKind.NODE)
    step = tree.one("inner_step", SpanKind.NODE)
    assert step.persona == "dev"
    assert seconds["dev"] == pytest.approx(step.duration_s)
    prepare = tree.one("prepare", SpanKind.NODE)
    assert seconds["lead"] == pytest.approx(prepare.duration_s + inner.duration_s - step.duration_s)
