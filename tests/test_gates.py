"""Quality gates: verdicts on node outputs, as scores and span attributes."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, FeatureHooks, Gate, SpanKind, gate
from langgraph_observe.gates import GateSet
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("g", "output", "passed", "value"),
    [
        (Gate("c", "n", key="coverage", min=0.8), {"coverage": 0.9}, True, 0.9),
        (Gate("c", "n", key="coverage", min=0.8), {"coverage": 0.7}, False, 0.7),
        (Gate("c", "n", key="coverage", max=0.8), {"coverage": 0.9}, False, 0.9),
        (Gate("c", "n", key="a.b", min=1), {"a": {"b": 2}}, True, 2.0),
        (Gate("c", "n", key="status", equals="green"), {"status": "green"}, True, "green"),
        (Gate("c", "n", key="status", equals="green"), {"status": "red"}, False, "red"),
        (Gate("c", "n", key="coverage", min=0.8), {}, False, False),
        (Gate("c", "n", key="coverage", min=0.8), {"coverage": "high"}, False, "high"),
        (Gate("c", "n", check=lambda o: "tests" in o), {"tests": 1}, True, True),
        (Gate("c", "n", check=lambda o: o["score"], min=0.5), {"score": 0.4}, False, 0.4),
        (Gate("c", "n", check=lambda o: 1 / 0), {}, False, False),
    ],
)
def test_verdicts(g, output, passed, value):
    result = g.evaluate(output)
    assert (result.passed, result.value) == (passed, value)
    assert (result.comment is None) == passed


def test_declaration_errors():
    with pytest.raises(ValueError, match="exactly one"):
        Gate("g", "n")
    with pytest.raises(ValueError, match="min, max or equals"):
        Gate("g", "n", key="k")
    with pytest.raises(ValueError, match="on_fail"):
        Gate("g", "n", key="k", min=1, on_fail="explode")
    with pytest.raises(ValueError, match="two gates"):
        GateSet([Gate("g", "n", key="k", min=1), Gate("g", "m", key="k", min=1)])


def test_gates_on_a_real_graph_and_the_decorator():
    @gate("short_answer", node="write")
    def short(output):
        return len(output["log"][0]) < 5

    hooks = FeatureHooks(gates=[short, Gate("planned", "plan", key="log", equals=["x"])])
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=hooks)
    graphs.linear_graph().invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    scores = {s.name: s for s in sink.scores()}
    assert scores["short_answer"].passed is False  # "final answer" is longer
    assert scores["planned"].passed is False and scores["planned"].value.startswith("[")
    write = next(s for s in sink.spans(SpanKind.NODE) if s.name == "write")
    assert write.attributes["langgraph.gate.short_answer"] == "fail"
    assert scores["short_answer"].span_id == write.span_id
    assert scores["short_answer"].workflow == "linear"


def test_gates_skip_failed_nodes():
    hooks = FeatureHooks(gates=[Gate("never", "boom", key="x", min=0)])
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=hooks)
    with pytest.raises(ValueError):
        graphs.failing_graph().invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    assert sink.scores() == []


def test_gates_per_parallel_branch():
    def worker(state):
        return {"log": [state["topic"]]}

    from langgraph.types import Send

    g = StateGraph(graphs.State)
    g.add_node("worker", worker)
    g.add_conditional_edges(START, lambda s: [Send("worker", {"topic": t}) for t in "abc"])
    g.add_edge("worker", END)
    hooks = FeatureHooks(gates=[Gate("is_b", "worker", key="log", equals=["b"])])
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=hooks)
    g.compile().invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    assert sorted(s.passed for s in sink.scores()) == [False, False, True]
    assert len({s.span_id for s in sink.scores()}) == 3


def test_a_command_is_judged_by_its_update():
    from langgraph.types import Command

    from langgraph_observe.gates import state_update

    g = Gate("ok", "n", key="ok", equals=True)
    assert g.evaluate(Command(update={"ok": True}, goto="x")).passed
    assert not g.evaluate(Command(update={"ok": False})).passed
    assert g.evaluate(Command(update=[("ok", True)])).passed  # (key, value) pairs
    both = [Command(update={"ok": False}), Command(update={"ok": True, "n": 1}), Command()]
    assert state_update(both) == {"ok": True, "n": 1}  # merged in order
    assert state_update([1, 2]) == [1, 2] and state_update(None) is None


class _RouteState(TypedDict, total=False):
    log: Annotated[list, operator.add]
    ok: bool


def _routing_graph(ok: bool, *, to_parent: bool):
    """``decide`` returns a Command (to a sibling, or from a subgraph to the parent)."""
    from langgraph.types import Command

    def decide(state: _RouteState) -> Command:
        target = Command.PARENT if to_parent else None
        return Command(graph=target, goto="after", update={"log": ["decide"], "ok": ok})

    def after(state: _RouteState) -> _RouteState:
        return {"log": ["after"]}

    inner = StateGraph(_RouteState)
    inner.add_node("decide", decide)
    inner.add_edge(START, "decide")
    if not to_parent:
        inner.add_node("after", after)
        inner.add_edge("after", END)
        return inner.compile()
    outer = StateGraph(_RouteState)
    outer.add_node("sub", inner.compile())
    outer.add_node("after", after)
    outer.add_edge(START, "sub")
    outer.add_edge("after", END)
    return outer.compile()


@pytest.mark.parametrize("to_parent", [False, True], ids=["command", "parent-command"])
def test_gates_on_nodes_that_route_with_commands(to_parent):
    from langgraph_observe import QualityGateFailed
    from langgraph_observe import semconv as sc

    gates = [Gate("ok", "decide", key="ok", equals=True, on_fail="raise")]
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=FeatureHooks(gates=gates))
    out = _routing_graph(True, to_parent=to_parent).invoke(
        {"log": []}, config={"callbacks": [handler]}
    )
    assert out["log"] == ["decide", "after"]  # the hand-off happened
    with pytest.raises(QualityGateFailed):
        _routing_graph(False, to_parent=to_parent).invoke(
            {"log": []}, config={"callbacks": [handler]}
        )
    handler.shutdown()
    assert [s.passed for s in sink.scores()] == [True, False]
    decide = [s for s in sink.spans(SpanKind.NODE) if s.node == "decide"]
    assert [s.status.value for s in decide] == ["ok", "ok"]
    bubbled = [s.attributes.get(sc.LG_BUBBLE_UP) for s in decide]
    assert bubbled == (["ParentCommand"] * 2 if to_parent else [None, None])


def test_no_gate_on_control_flow_that_returns_nothing():
    """A bubble-up with no command (e.g. a drained graph) leaves nothing to judge."""
    import uuid

    from langgraph.errors import GraphDrained

    from langgraph_observe import semconv as sc

    sink = InMemorySink()
    gates = [Gate("ok", "decide", key="ok", equals=True, on_fail="raise")]
    handler = CallbackHandler(sinks=[sink], hooks=FeatureHooks(gates=gates))
    root, node = uuid.uuid4(), uuid.uuid4()
    handler.on_chain_start({}, {}, run_id=root, name="wf")
    meta = {"langgraph_node": "decide", "langgraph_step": 1}
    handler.on_chain_start(
        {}, {}, run_id=node, parent_run_id=root, metadata=meta, tags=["graph:step:1"]
    )
    handler.on_chain_error(GraphDrained(), run_id=node)  # must not raise QualityGateFailed
    handler.on_chain_end({}, run_id=root)
    handler.shutdown()
    assert sink.scores() == []
    (span,) = sink.spans(SpanKind.NODE)
    assert span.status.value == "ok" and span.attributes[sc.LG_BUBBLE_UP] == "GraphDrained"
