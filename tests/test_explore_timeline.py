"""persona_timeline and persona_summary attribute each model call to the node it ran in, over
stores written by real LangGraph runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pd = pytest.importorskip("pandas", reason="pandas is in the test extra")

from langgraph.graph import END, START, StateGraph  # noqa: E402

from langgraph_observe import CallbackHandler, analytics, explore, persona  # noqa: E402
from langgraph_observe.sinks.local import LocalStoreSink  # noqa: E402
from langgraph_observe.store import LocalStore  # noqa: E402

from . import graphs  # noqa: E402
from .filled_store import named_model  # noqa: E402

pytestmark = pytest.mark.unit


def _run(graph: Any, path: Path) -> str:
    """Invoke ``graph`` once into the store at ``path``; its trace id."""
    handler = CallbackHandler(sinks=[LocalStoreSink(path)])
    graph.invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush(10)
    handler.shutdown()
    with LocalStore(path) as store:
        (trace,) = store.traces()
    return trace["trace_id"]


def _overlapping_graph() -> Any:
    """Parallel branches: 'slow' (alice, its call at the end) beside a subgraph whose
    'inner_bob' then 'inner_alice' nodes call while 'slow' still runs."""
    model = named_model("gpt-4o", "ok", 100, 50)

    def slow(state: graphs.State) -> graphs.State:
        time.sleep(0.3)
        return {"log": [model.invoke("slow").content]}

    def quick(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke("quick").content]}

    sub = StateGraph(graphs.State)
    sub.add_node("inner_bob", quick, metadata={"persona": "bob"})
    sub.add_node("inner_alice", quick, metadata={"persona": "alice"})
    sub.add_edge(START, "inner_bob")
    sub.add_edge("inner_bob", "inner_alice")
    sub.add_edge("inner_alice", END)
    g = StateGraph(graphs.State)
    g.add_node("slow", slow, metadata={"persona": "alice"})
    g.add_node("team", sub.compile(name="team"))
    g.add_edge(START, "slow")
    g.add_edge(START, "team")
    g.add_edge("slow", END)
    g.add_edge("team", END)
    return g.compile(name="overlap")


def _substep_graph() -> Any:
    """'write' (engineer) calls once itself and once in a ``with persona("reviewer")`` block."""
    model = named_model("gpt-4o", "ok", 1000, 500)

    def write(state: graphs.State) -> graphs.State:
        model.invoke("code")
        with persona("reviewer"):
            model.invoke("review")
        return {"log": ["written"]}

    g = StateGraph(graphs.State)
    g.add_node("write", write, metadata={"persona": "engineer"})
    g.add_edge(START, "write")
    g.add_edge("write", END)
    return g.compile(name="substep")


def _calls(path: Path) -> Any:
    spans = explore.spans(path)
    return spans[spans["kind"].isin(["llm", "embedding"])]


def test_timeline_counts_each_call_once_across_parallel_branches(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    trace_id = _run(_overlapping_graph(), path)
    timeline = explore.persona_timeline(trace_id, store=path)
    calls = _calls(path)
    assert len(calls) == 3
    assert timeline["model_calls"].sum() == 3
    assert timeline["total_tokens"].sum() == calls["total_tokens"].sum() == 450
    assert timeline["cost_usd"].sum() == pytest.approx(calls["cost_usd"].sum())
    for row in timeline.itertuples():
        leaves = [n for n in row.nodes if n != "team"]
        assert row.model_calls == len(leaves), row


def test_timeline_counts_a_substep_call_in_its_nodes_stretch(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    trace_id = _run(_substep_graph(), path)
    (row,) = explore.persona_timeline(trace_id, store=path).itertuples()
    calls = _calls(path)
    assert sorted(calls["persona"]) == ["engineer", "reviewer"]
    assert row.persona == "engineer" and row.nodes == ["write"]
    assert row.model_calls == 2 and row.total_tokens == 3000
    assert row.cost_usd == pytest.approx(calls["cost_usd"].sum())


def test_persona_summary_keeps_a_substep_only_persona(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    _run(_substep_graph(), path)
    with LocalStore(path) as store:
        rows = {r["persona"]: r for r in analytics.persona_summary(store)}
        spent = analytics.realtime_summary(store)["today"]["cost_usd"]
    assert set(rows) == {"engineer", "reviewer"}
    reviewer = rows["reviewer"]
    assert reviewer["workflow"] == "substep"
    assert reviewer["runs"] == 0 and reviewer["model_calls"] == 1
    assert reviewer["success_rate"] is None and reviewer["p50_latency_s"] is None
    assert rows["engineer"]["runs"] == 1 and rows["engineer"]["model_calls"] == 1
    assert sum(r["cost_usd"] for r in rows.values()) == pytest.approx(spent)
    assert reviewer["cost_usd"] == pytest.approx(spent / 2) and spent > 0
