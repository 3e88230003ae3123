"""Fixes around ``ObservedWorkflow`` and its hooks: day budgets read from the file the local
store sink writes, the class ``name`` on compiled graphs, personas without a limit, persona
time under parallel nested nodes, and the run's own attribution metadata."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from langgraph_observe import (
    CallbackHandler,
    FeatureHooks,
    ObservedWorkflow,
    SpanKind,
    TokenBudgetExceeded,
    persona_time,
)
from langgraph_observe.budgets import BudgetTracker, PersonaBudget
from langgraph_observe.config_file import parse_config
from langgraph_observe.events import BudgetUpdate, SpanRecord, TraceContext
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


def talk_graph(model: Any) -> StateGraph:
    def talk(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke([HumanMessage("hi")]).content]}

    g = StateGraph(graphs.State)
    g.add_node("talk", talk)
    g.add_edge(START, "talk")
    g.add_edge("talk", END)
    return g


DAY_BUDGET = {  # 40 tokens a day for node ``talk``; each call uses 15
    "personas": {"writer": {"budget_tokens": 40, "window": "day", "on_exceeded": "raise"}},
    "nodes": {"talk": "writer"},
}


# -- day budgets and the local store sink's file ---------------------------------------------
def test_day_budget_holds_across_workflows_writing_their_own_store(tmp_path):
    """The sink's file is not the ``store_path`` setting (the conftest's ``traces.db``): the
    budget is still read from where the sink writes its counters."""
    db = tmp_path / "own.db"
    model = graphs.chat_model("ok", 10, 5)
    first = ObservedWorkflow(talk_graph(model), sinks=[LocalStoreSink(db)], config=DAY_BUDGET)
    assert first.hooks.budgets is not None and first.hooks.budgets.store_path == db
    first.invoke({"log": []})
    first.invoke({"log": []})
    first.shutdown()
    second = ObservedWorkflow(talk_graph(model), sinks=[LocalStoreSink(db)], config=DAY_BUDGET)
    second.invoke({"log": []})  # 30 + 15 = 45 > 40: counted
    with pytest.raises(TokenBudgetExceeded) as raised:
        second.invoke({"log": []})  # used up: refused
    assert raised.value.used == 45 and raised.value.window == "day"
    second.shutdown()


def test_a_handler_reads_day_budgets_from_its_local_sink(tmp_path):
    db = tmp_path / "handler.db"
    graph = talk_graph(graphs.chat_model("ok", 10, 5)).compile()
    for expected in (15, 30, 45):  # each handler starts from what the earlier ones used
        sink = InMemorySink()
        handler = CallbackHandler(sinks=[sink, LocalStoreSink(db)], config=DAY_BUDGET)
        graph.invoke({"log": []}, config={"callbacks": [handler]})
        handler.shutdown()
        assert [u.used_tokens for u in sink.of_type(BudgetUpdate)] == [expected]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "langgraph_observe" and r.levelno == logging.WARNING and "NOT hold" in r.msg
    ]


def test_warns_once_when_no_local_sink_writes_the_budget_store(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(tmp_path / "unwritten.db"))
    caplog.set_level(logging.WARNING, "langgraph_observe")
    graph = talk_graph(graphs.chat_model())
    for _ in range(2):
        ObservedWorkflow(graph, sinks=[InMemorySink()], config=DAY_BUDGET).shutdown()
        CallbackHandler(sinks=[InMemorySink()], config=DAY_BUDGET).shutdown()
    (message,) = _warnings(caplog)
    assert "writer" in message and "unwritten.db" in message
    # a run window needs no store; a local sink on the file is what it takes
    run_window = {**DAY_BUDGET, "personas": {"writer": {"budget_tokens": 40}}}
    CallbackHandler(sinks=[InMemorySink()], config=run_window).shutdown()
    CallbackHandler(sinks=[LocalStoreSink(tmp_path / "unwritten.db")], config=DAY_BUDGET).shutdown()
    assert len(_warnings(caplog)) == 1


def test_hooks_passed_in_are_checked_against_the_handlers_sinks(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(tmp_path / "setting.db"))
    caplog.set_level(logging.WARNING, "langgraph_observe")
    config = parse_config(DAY_BUDGET)
    sink = LocalStoreSink(tmp_path / "sink.db")
    hooks = FeatureHooks(config)  # reads the setting's file: the handler writes another
    CallbackHandler(sinks=[sink], hooks=hooks).shutdown()
    (message,) = _warnings(caplog)
    assert "setting.db" in message and "sink.db" in message
    matched = FeatureHooks(config, sinks=[sink])
    assert matched.budgets is not None and matched.budgets.store_path == sink.path
    CallbackHandler(sinks=[sink], hooks=matched).shutdown()
    assert len(_warnings(caplog)) == 1


# -- the class name on a compiled graph ------------------------------------------------------
class Approval(ObservedWorkflow):
    name = "package-release"

    def build_graph(self) -> Any:
        def ask(state: graphs.State) -> graphs.State:
            return {"log": [interrupt("approve?")]}

        return graphs.chain_graph(("ask", ask), checkpointer=InMemorySaver())


def _root_names(sink: InMemorySink) -> list[str | None]:
    return [s.workflow for s in sink.spans(SpanKind.WORKFLOW)]


async def test_a_compiled_graph_runs_under_the_class_name():
    sink = InMemorySink()
    wf = Approval(sinks=[sink])
    thread = {"configurable": {"thread_id": "t-1"}}
    first = wf.invoke({"log": []}, thread)
    assert "__interrupt__" in first
    assert wf.graph.get_state(thread).next == ("ask",)
    assert wf.invoke(Command(resume="yes"), thread)["log"] == ["yes"]
    list(wf.stream({"log": []}, {"configurable": {"thread_id": "t-2"}}))
    [c async for c in wf.astream({"log": []}, {"configurable": {"thread_id": "t-3"}})]
    wf.invoke({"log": []}, {"configurable": {"thread_id": "t-4"}, "run_name": "mine"})
    wf.flush()
    assert _root_names(sink) == ["package-release"] * 4 + ["mine"]
    wf.shutdown()


def test_a_graph_passed_in_runs_under_the_class_name_and_is_left_as_it_was():
    class Named(ObservedWorkflow):
        name = "named"

    compiled = graphs.fanout_graph(2)
    before = compiled.name
    sink = InMemorySink()
    wf = Named(compiled, sinks=[sink])
    wf.invoke({"log": []})
    wf.flush()
    assert _root_names(sink) == ["named"]
    assert compiled.name == before
    wf.shutdown()


# -- personas without a limit ----------------------------------------------------------------
def test_a_persona_without_a_limit_is_not_budgeted(tmp_path):
    db = tmp_path / "limits.db"
    config = {
        "personas": {"budgeted": {"budget_tokens": 1000}, "reviewer": {"description": "reviews"}},
        "budgets": {"window": "day"},
        "nodes": {"a": "budgeted", "b": "reviewer"},
    }

    def node(name: str) -> Any:
        model = graphs.chat_model("ok", 10, 5)
        return lambda state: {"log": [model.invoke([HumanMessage(name)]).content]}

    g = StateGraph(graphs.State)
    g.add_node("a", node("a"))
    g.add_node("b", node("b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    sink = InMemorySink()
    wf = ObservedWorkflow(g, sinks=[sink, LocalStoreSink(db)], config=config)
    assert wf.hooks.budgets is not None and wf.hooks.budgets.limits("reviewer") is None
    wf.invoke({"log": []})
    wf.shutdown()
    assert [u.persona for u in sink.of_type(BudgetUpdate)] == ["budgeted"]
    by_persona = {s.persona: s.attributes for s in sink.spans(SpanKind.LLM)}
    assert "langgraph.budget.window" in by_persona["budgeted"]
    assert not [k for k in by_persona["reviewer"] if k.startswith("langgraph.budget.")]
    with LocalStore(db) as store:
        assert [r["persona"] for r in store.budget_usage()] == ["budgeted"]


def test_a_tracker_leaves_out_personas_without_a_limit():
    tracker = BudgetTracker(
        {"dev": PersonaBudget("dev", budget_tokens=10), "lead": PersonaBudget("lead")}
    )
    assert set(tracker.budgets) == {"dev"}
    assert tracker.record("lead", trace_id="t", tokens=5, usd=None) is None
    assert tracker.record("dev", trace_id="t", tokens=5, usd=None) is not None


# -- persona time under parallel nested nodes ------------------------------------------------
def test_persona_time_takes_parallel_nested_nodes_off_once():
    ctx = TraceContext("0" * 32, "wf")
    s = 1_000_000_000

    def span(sid: str, parent: str | None, kind: SpanKind, persona: Any, start: float, end: float):
        return SpanRecord(
            ctx, sid, parent, sid, kind, int(start * s), int(end * s), persona=persona
        )

    spans = [
        span("root", None, SpanKind.WORKFLOW, None, 0, 10),
        span("team", "root", SpanKind.NODE, "lead", 0, 10),
        span("sub", "team", SpanKind.SUBGRAPH, "lead", 0.5, 9.5),
        *(span(f"w{i}", "sub", SpanKind.NODE, "engineer", 1, 9) for i in range(4)),
        span("review", "root", SpanKind.NODE, "qa", 10, 14),
        span("r1", "review", SpanKind.NODE, "dev", 10, 12),  # overlapping in part
        span("r2", "review", SpanKind.NODE, "dev", 11, 13),
    ]
    assert persona_time(spans) == pytest.approx(
        {"lead": 2.0, "engineer": 32.0, "qa": 1.0, "dev": 4.0}
    )


def test_persona_time_of_a_subgraph_fanning_out_is_never_negative():
    def route(state: graphs.State) -> list[Send]:
        return [Send("worker", {"topic": str(i)}) for i in range(4)]

    def worker(state: graphs.State) -> graphs.State:
        time.sleep(0.05)
        return {"log": [state["topic"]]}

    sub = StateGraph(graphs.State)
    sub.add_node("worker", worker)
    sub.add_conditional_edges(START, route, ["worker"])
    sub.add_edge("worker", END)
    g = StateGraph(graphs.State)
    g.add_node("team", sub.compile())
    g.add_edge(START, "team")
    g.add_edge("team", END)
    sink = InMemorySink()
    wf = ObservedWorkflow(g, sinks=[sink], personas={"team": "lead", "worker": "engineer"})
    wf.invoke({"log": []})
    wf.shutdown()
    nodes = sink.spans(SpanKind.NODE)
    team = next(n for n in nodes if n.name == "team")
    workers = [n for n in nodes if n.name == "worker"]
    assert len(workers) == 4 and sum(w.duration_s for w in workers) > team.duration_s
    seconds = persona_time(sink.spans())
    assert seconds["engineer"] == pytest.approx(sum(w.duration_s for w in workers))
    assert 0.0 <= seconds["lead"] < team.duration_s


# -- the run's own attribution metadata -----------------------------------------------------
def test_the_runs_metadata_aliases_win_over_the_instance():
    sink = InMemorySink()
    wf = ObservedWorkflow(
        graphs.fanout_graph(2), sinks=[sink], tenant="i-t", user_id="i-u", session_id="i-s"
    )
    aliases = {"tenant_id": "r-t", "langfuse_user_id": "r-u", "langfuse_session_id": "r-s"}
    wf.invoke({"log": []}, {"metadata": aliases})
    wf.invoke({"log": []}, {"metadata": aliases}, tenant="c-t", user_id="c-u", session_id="c-s")
    wf.invoke({"log": []}, {"metadata": {"tenant_id": "r-t"}})
    wf.shutdown()
    got = [(r.trace.tenant, r.trace.user_id, r.trace.session_id) for r in sink.spans("workflow")]
    assert got == [("r-t", "r-u", "r-s"), ("c-t", "c-u", "c-s"), ("r-t", "i-u", "i-s")]
