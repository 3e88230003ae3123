"""Audit fixes around ``ObservedWorkflow``: gates and persona entries on nodes the graph does
not have, ``last_trace_id`` per thread and asyncio task, USD budgets and unpriced models,
``Gate`` validation in Python, a string of tags, and subclassing mistakes."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.func import entrypoint, task

from langgraph_observe import Gate, ObservedWorkflow, SpanKind
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "langgraph_observe" and r.levelno == logging.WARNING and text in r.msg
    ]


# -- gates and personas on nodes the graph does not have ------------------------------------
def test_a_gate_or_persona_on_an_unknown_node_is_named_in_a_warning(caplog):
    caplog.set_level(logging.WARNING, "langgraph_observe")
    wf = ObservedWorkflow(
        graphs.subgraph_graph(),  # prepare -> inner (a subgraph: inner_step)
        sinks=[InMemorySink()],
        personas={"prepar": "planner", "inner_step": "writer"},  # a typo; a subgraph's node
        gates=[
            Gate("typo", node="inner_stp", key="log", equals=[]),
            Gate("nested", node="inner_step", key="log", equals=[]),
        ],
    )
    wf.shutdown()
    gate_warning, persona_warning = _warnings(caplog, "does not have")
    assert "gate 'typo'" in gate_warning and "'inner_stp'" in gate_warning
    assert "did you mean 'inner_step' or 'inner'?" in gate_warning
    assert "persona 'planner'" in persona_warning and "node 'prepar'" in persona_warning
    assert "did you mean 'prepare'?" in persona_warning
    for message in (gate_warning, persona_warning):
        assert "outer" in message  # the workflow
        assert "inner, inner_step, prepare." in message  # the known nodes, subgraphs' included


@task
def _research(topic: str) -> str:
    return f"notes on {topic}"


@task
def _write(notes: str) -> str:
    return notes + "."


@entrypoint()
def _report(topic: str) -> str:
    return _write(_research(topic).result()).result()


def test_known_nodes_subgraph_nodes_and_tasks_raise_no_warning(caplog):
    caplog.set_level(logging.WARNING, "langgraph_observe")
    ObservedWorkflow(
        graphs.subgraph_graph(),
        sinks=[InMemorySink()],
        personas={"prepare": "planner", "inner": "writer", "inner_step": "writer"},
        gates=[Gate("nested", node="inner_step", key="log", equals=[])],
    ).shutdown()
    ObservedWorkflow(  # functional API: the tasks are nodes too
        _report,
        sinks=[InMemorySink()],
        personas={"_report": "lead", "_research": "analyst"},
        gates=[Gate("period", node="_write", check=lambda text: text.endswith("."))],
    ).shutdown()
    assert _warnings(caplog, "does not have") == []


# -- last_trace_id per thread and per asyncio task -------------------------------------------
def _owners(sink: InMemorySink) -> dict[str, str | None]:
    return {s.trace_id: s.trace.user_id for s in sink.spans(SpanKind.WORKFLOW)}


def test_last_trace_id_is_each_threads_own_run():
    started = threading.Barrier(8, timeout=10)

    def work(state: graphs.State) -> graphs.State:
        started.wait()  # the 8 runs overlap: each started before any reads its id
        return {"log": ["done"]}

    sink = InMemorySink()
    wf = ObservedWorkflow(graphs.chain_graph(("work", work)), sinks=[sink])
    mine: dict[int, str | None] = {}

    def request(i: int) -> None:
        wf.invoke({"log": []}, user_id=f"u{i}")
        mine[i] = wf.last_trace_id

    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wf.shutdown()
    owners = _owners(sink)
    assert {i: owners.get(tid) for i, tid in mine.items()} == {i: f"u{i}" for i in range(8)}
    assert wf.last_trace_id in owners  # here no run was started: the latest one anywhere


async def test_last_trace_id_is_each_gathered_tasks_own_run():
    started = 0
    all_started = asyncio.Event()

    async def work(state: graphs.State) -> graphs.State:
        nonlocal started
        started += 1
        if started == 8:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 10)
        return {"log": ["done"]}

    sink = InMemorySink()
    wf = ObservedWorkflow(graphs.chain_graph(("work", work)), sinks=[sink])

    async def request(i: int) -> tuple[int, str | None]:
        await wf.ainvoke({"log": []}, user_id=f"a{i}")
        return i, wf.last_trace_id

    results = await asyncio.gather(*(request(i) for i in range(8)))
    # the direct way for one run: the run config's run_id
    config = wf.run_config(user_id="direct")
    assert wf.last_trace_id == config["run_id"].hex  # this task's latest
    await wf.graph.ainvoke({"log": []}, config)
    wf.shutdown()
    owners = _owners(sink)
    assert {i: owners.get(tid) for i, tid in results} == {i: f"a{i}" for i in range(8)}
    assert owners[config["run_id"].hex] == "direct"


# -- a USD budget and a model without a price ------------------------------------------------
def test_a_usd_budget_warns_once_per_persona_and_unpriced_model(caplog):
    caplog.set_level(logging.WARNING, "langgraph_observe")
    model = graphs.chat_model("ok", 10, 5)  # 'generic-fake-chat-model': no price

    def talk(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke([HumanMessage("hi")]).content]}

    config = {
        "personas": {
            "dev": {"budget_usd": 0.01, "budget_tokens": 1000, "on_exceeded": "raise"},
            "ops": {"budget_usd": 0.01},
            "tokens_only": {"budget_tokens": 1000},
        },
        "nodes": {"talk": "dev", "ship": "ops", "count": "tokens_only"},
    }
    graph = graphs.chain_graph(("talk", talk), ("ship", talk), ("count", talk))
    with ObservedWorkflow(graph, sinks=[InMemorySink()], config=config) as wf:
        for _ in range(3):
            wf.invoke({"log": []})
    dev, ops = _warnings(caplog, "has no price, so")
    assert "persona 'dev'" in dev and "'generic-fake-chat-model'" in dev
    assert "budget_tokens (1000)" in dev  # the tokens still count
    assert "persona 'ops'" in ops and "no budget_tokens" in ops


# -- Gate validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": "k", "min": "0.8"}, TypeError, "min must be a number, got str '0.8'"),
        ({"key": "k", "max": True}, TypeError, "max must be a number"),
        ({"key": "k", "min": float("nan")}, ValueError, "min must be a finite number"),
        ({"key": "k", "max": float("inf")}, ValueError, "max must be a finite number"),
        ({"key": "k", "min": 0.95, "max": 0.1}, ValueError, "min 0.95 is above max 0.1"),
        ({"key": "k", "min": 1, "on_fail": "explode"}, ValueError, "on_fail must be one of"),
        ({"key": "k", "min": 1, "on_fail": ["raise"]}, ValueError, "on_fail must be one of"),
        ({"key": "", "min": 1}, ValueError, "key must be a non-empty string"),
        ({"key": 3, "min": 1}, TypeError, "key must be a string"),
        ({"check": "pkg.mod:fn"}, TypeError, "check must be callable"),
        ({"node": " ", "key": "k", "min": 1}, ValueError, "node must be a non-empty string"),
        ({"node": None, "key": "k", "min": 1}, TypeError, "node must be a string"),
        ({"name": 5, "key": "k", "min": 1}, TypeError, "name must be a string"),
    ],
)
def test_a_gate_built_in_python_is_validated_as_the_config_files(kwargs, error, match):
    with pytest.raises(error, match=match):
        Gate(**{"name": "g", "node": "n", **kwargs})


def test_gate_bounds_are_floats():
    g = Gate("g", "n", key="k", min=1, max=2)
    assert (g.min, g.max) == (1.0, 2.0) and type(g.min) is float


class _Flaky:
    @property
    def score(self) -> float:
        raise RuntimeError("not computed yet")


class _NoCompare:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("cannot compare")

    __hash__ = object.__hash__


class _Array:
    """Like a numpy array: ``==`` gives an array, whose truth value is ambiguous."""

    def __eq__(self, other: object) -> Any:
        return self

    def __bool__(self) -> bool:
        raise ValueError("the truth value of an array is ambiguous")

    __hash__ = object.__hash__


@pytest.mark.parametrize(
    ("g", "comment"),
    [
        (Gate("g", "judge", key="topic.score", equals=1), "not computed yet"),
        (Gate("g", "judge", check=lambda out: _NoCompare(), equals=1), "cannot compare"),
        (Gate("g", "judge", check=lambda out: _Array(), equals=1), "ambiguous"),
        (Gate("g", "judge", check=lambda out: 10**400, min=0), "OverflowError"),
        (Gate("g", "judge", check=lambda out: "yes"), "expected a number, got str"),
    ],
)
def test_a_gate_that_cannot_be_judged_fails_and_keeps_the_node_span(g, comment):
    def judge(state: graphs.State) -> dict[str, Any]:
        return {"topic": _Flaky()}  # reading its .score raises

    sink = InMemorySink()
    with ObservedWorkflow(graphs.chain_graph(("judge", judge)), sinks=[sink], gates=[g]) as wf:
        wf.invoke({"log": []})
    (node,) = sink.spans(SpanKind.NODE)
    assert node.name == "judge" and node.attributes["langgraph.gate.g"] == "fail"
    (score,) = sink.scores()
    assert score.passed is False and comment in (score.comment or "")


# -- tags given as one string ----------------------------------------------------------------
def test_a_string_of_tags_is_one_tag():
    sink = InMemorySink()
    graph = graphs.chain_graph(("step", lambda state: {"log": ["x"]}))
    with ObservedWorkflow(graph, sinks=[sink], tags="nightly") as wf:
        assert wf.tags == ("nightly",)
        wf.invoke({"log": []}, {"tags": "from-config"}, tags="hotfix")
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert set(root.trace.tags) >= {"nightly", "hotfix", "from-config"}
    assert not {"n", "h", "f"} & set(root.trace.tags)


# -- subclassing mistakes --------------------------------------------------------------------
def test_build_graph_returning_none_is_a_clear_type_error():
    class Forgot(ObservedWorkflow):
        def build_graph(self) -> Any:
            graphs.chain_graph(("step", lambda state: {}))  # no return

    with pytest.raises(TypeError, match=r"Forgot\.build_graph\(\) must return a StateGraph"):
        Forgot(sinks=[InMemorySink()])
    with pytest.raises(TypeError, match="graph must be a StateGraph builder"):
        ObservedWorkflow("graph.py", sinks=[InMemorySink()])


def test_an_init_without_super_init_says_so():
    class NoSuper(ObservedWorkflow):
        def __init__(self, model: Any) -> None:
            self.model = model

    wf = NoSuper(graphs.chat_model())
    with pytest.raises(AttributeError, match=r"must call super\(\).__init__"):
        wf.invoke({"log": []})
    with pytest.raises(AttributeError, match=r"must call super\(\).__init__"):
        wf.last_trace_id  # noqa: B018
    assert not hasattr(wf, "missing")  # other attributes: a plain AttributeError
    assert wf.model is not None


def test_a_mixin_after_the_workflow_in_the_mro_is_initialised():
    class Service:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.service_ready = True
            super().__init__(*args, **kwargs)

    class Before(ObservedWorkflow, Service):
        def build_graph(self) -> Any:
            return graphs.chain_graph(("step", lambda state: {"log": ["x"]}))

    class After(Service, ObservedWorkflow):
        def build_graph(self) -> Any:
            return graphs.chain_graph(("step", lambda state: {"log": ["x"]}))

    for cls in (Before, After):
        with cls(sinks=[InMemorySink()], tenant="t") as wf:
            assert wf.service_ready and wf.tenant == "t"
            assert wf.invoke({"log": []}) == {"log": ["x"]}
