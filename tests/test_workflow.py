"""ObservedWorkflow on the multi-persona package-release example (examples/release_workflow.py):
persona switches, budgets to the token, gates, costs to the cent, attribution, and the same
records through the local store and the Prometheus sink."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_observe import (
    CallbackHandler,
    ObservedWorkflow,
    QualityGateFailed,
    SpanKind,
    SpanStatus,
    TokenBudgetExceeded,
    persona_time,
)
from langgraph_observe.events import BudgetUpdate, PersonaSwitch, ScoreRecord
from langgraph_observe.personas import switch_pairs
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "release_workflow.py"
_spec = importlib.util.spec_from_file_location("release_example", EXAMPLE)
assert _spec is not None and _spec.loader is not None
release_example = importlib.util.module_from_spec(_spec)
sys.modules["release_example"] = release_example  # the graph's state type hints resolve here
_spec.loader.exec_module(release_example)
ReleaseWorkflow = release_example.ReleaseWorkflow

BACKEND, TESTING, DEVOPS = "backend-engineer", "testing-specialist", "devops-engineer"

# Hand-computed from the list prices in USD per 1M tokens (see docs/cost.md):
#   write_code  gpt-4o            800 fresh x 2.50 + 400 cached x 1.25 + 300 out x 10  = 0.0055
#   write_tests claude-3-5-haiku  400 fresh x 0.80 + 200 cache write x 1.00 + 150 x 4   = 0.00112
#   run_tests   gpt-4o-mini       900 x 0.15 + 100 x 0.60                              = 0.000195
#   embedding   text-embedding-3-small  50 x 0.02                                      = 0.000001
#   build       claude-sonnet-4-5 700 x 3 + 200 x 15                                   = 0.0051
EXPECTED_COSTS = {
    ("gpt-4o", BACKEND): 0.0055,
    ("claude-3-5-haiku", TESTING): 0.00112,
    ("gpt-4o-mini", TESTING): 0.000195,
    ("text-embedding-3-small", DEVOPS): 0.000001,
    ("claude-sonnet-4-5", DEVOPS): 0.0051,
}


def run_release(tmp_path, **kwargs):
    sink = InMemorySink()
    wf = ReleaseWorkflow(sinks=[sink, LocalStoreSink(tmp_path / "release.db")], **kwargs)
    return wf, sink


def test_release_switches_costs_budgets_gates(tmp_path):
    wf, sink = run_release(tmp_path, tenant="acme")
    out = wf.invoke({"version": "1.2.0", "log": []}, user_id="bot", session_id="s-1", tags=["rc"])
    assert wf.flush()
    assert wf.handler.tracer.open_runs == 0
    assert out["published"] is True
    (tree,) = sink.traces().values()
    root = tree.root
    assert root.trace_id == wf.last_trace_id
    assert (root.workflow, root.trace.tenant, root.trace.user_id, root.trace.session_id) == (
        "package-release",
        "acme",
        "bot",
        "s-1",
    )
    assert "rc" in root.trace.tags

    nodes = {n.name: n for n in tree.find(kind=SpanKind.NODE)}
    assert {n: s.persona for n, s in nodes.items()} == {
        "write_code": BACKEND,
        "run_tests": TESTING,
        "build_package": DEVOPS,
        "publish": DEVOPS,
    }
    # switches in start order: the tester's sub-step inside write_code goes there and back
    switches = sink.of_type(PersonaSwitch)
    assert [(s.from_persona, s.to_persona) for s in switches] == [
        (BACKEND, TESTING),
        (TESTING, BACKEND),
        (BACKEND, TESTING),
        (TESTING, DEVOPS),
    ]
    assert switch_pairs(switches) == {
        (BACKEND, TESTING): 2,
        (TESTING, BACKEND): 1,
        (TESTING, DEVOPS): 1,
    }
    assert all(s.trace_id == root.trace_id and s.tenant == "acme" for s in switches)
    events = [e for n in nodes.values() for e in n.events if e.name == "persona_switch"]
    assert len(events) == 4

    # one cost per model call, on the model span only
    priced = {(s.model, s.persona): s.cost_usd for s in tree.spans if s.cost_usd is not None}
    assert priced.keys() == EXPECTED_COSTS.keys()
    for key, cost in EXPECTED_COSTS.items():
        assert priced[key] == pytest.approx(cost, abs=1e-12), key
    assert all(s.kind in (SpanKind.LLM, SpanKind.EMBEDDING) for s in tree.spans if s.cost_usd)
    assert sum(priced.values()) == pytest.approx(0.011916, abs=1e-12)

    # budgets: remaining to the token after each call, a warning once per window
    updates = sink.of_type(BudgetUpdate)
    assert [(u.persona, u.remaining_tokens) for u in updates] == [
        (BACKEND, 2000 - 1500),
        (TESTING, 1800 - 750),
        (TESTING, 1800 - 750 - 1000),
        (DEVOPS, 1000 - 50),
        (DEVOPS, 1000 - 50 - 900),
    ]
    assert [u.warned for u in updates] == [False, False, True, False, True]
    assert not any(u.exceeded for u in updates)
    assert {u.window_key for u in updates} == {root.trace_id}
    assert updates[2].remaining_usd == pytest.approx(0.05 - 0.00112 - 0.000195, abs=1e-12)
    llms = sorted(tree.find(kind=SpanKind.LLM), key=lambda s: s.start_ns)
    assert [s.attributes["langgraph.budget.remaining_tokens"] for s in llms] == [500, 1050, 50, 50]
    warned_llm = next(s for s in llms if s.model == "gpt-4o-mini")
    assert [e.name for e in warned_llm.events] == ["budget_warning"]

    # gates: one score each, a span attribute on the node
    gates = {g.name: g for g in sink.of_type(ScoreRecord)}
    assert {n: (g.passed, g.value) for n, g in gates.items()} == {
        "coverage": (True, 0.86),
        "no_failures": (True, 0),
        "published": (True, True),
    }
    assert gates["coverage"].span_id == nodes["run_tests"].span_id
    assert gates["coverage"].persona == TESTING and gates["coverage"].source == "gate"
    assert nodes["run_tests"].attributes["langgraph.gate.coverage"] == "pass"
    assert nodes["publish"].attributes["langgraph.gate.published"] == "pass"

    # persona time: node busy time (the tester's sub-step counts under the node's persona)
    seconds = persona_time(tree.spans)
    assert set(seconds) == {BACKEND, TESTING, DEVOPS}
    assert seconds[DEVOPS] == pytest.approx(
        nodes["build_package"].duration_s + nodes["publish"].duration_s
    )
    wf.shutdown()

    # the same records in the local store
    with LocalStore(tmp_path / "release.db") as store:
        assert len(store.persona_switches(trace_id=root.trace_id)) == 4
        rows = {r["persona"]: r for r in store.budget_usage()}
        assert rows[TESTING]["used_tokens"] == 1750 and rows[TESTING]["warned"] is True
        assert rows[DEVOPS]["budget_tokens"] - rows[DEVOPS]["used_tokens"] == 50
        scores = store.scores(trace_id=root.trace_id)
        assert sorted((s["name"], bool(s["passed"])) for s in scores) == [
            ("coverage", True),
            ("no_failures", True),
            ("published", True),
        ]
        (trace,) = store.traces()
        assert trace["cost_usd"] == pytest.approx(0.011916, abs=1e-12)


def test_failed_gate_recorded_and_raise_gate_stops_the_run(tmp_path):
    wf, sink = run_release(tmp_path, coverage=0.5)
    wf.invoke({"version": "1.0.0", "log": []})
    wf.flush()
    coverage = next(g for g in sink.scores() if g.name == "coverage")
    assert (coverage.passed, coverage.value, coverage.comment) == (False, 0.5, "below min 0.8")
    run_tests = next(s for s in sink.spans(SpanKind.NODE) if s.name == "run_tests")
    assert run_tests.attributes["langgraph.gate.coverage"] == "fail"
    assert sink.spans(SpanKind.WORKFLOW)[0].status is SpanStatus.OK  # on_fail: record
    wf.shutdown()

    wf, sink = run_release(tmp_path, failed=2)
    with pytest.raises(QualityGateFailed) as raised:
        wf.invoke({"version": "1.0.1", "log": []})
    assert (raised.value.gate, raised.value.node, raised.value.score) == (
        "no_failures",
        "run_tests",
        2,
    )
    wf.flush()
    assert wf.handler.tracer.open_runs == 0
    (tree,) = sink.traces().values()
    assert tree.root.status is SpanStatus.ERROR
    assert tree.root.error.type.endswith("QualityGateFailed")
    node = tree.one("run_tests", SpanKind.NODE)
    assert node.status is SpanStatus.OK  # the node ran; its output failed the gate
    assert node.attributes["langgraph.gate.no_failures"] == "fail"
    assert not tree.find("build_package")  # the run stopped at the gate
    wf.shutdown()


def test_budget_raise_stops_before_the_call_and_closes_every_span(tmp_path):
    config = {
        "personas": {TESTING: {"budget_tokens": 700, "on_exceeded": "raise"}},
        "nodes": {"write_code": BACKEND, "run_tests": TESTING},
    }
    wf, sink = run_release(tmp_path, config=config)
    with pytest.raises(TokenBudgetExceeded) as raised:
        wf.invoke({"version": "2.0.0", "log": []})
    # the sub-step in write_code used 750 > 700: run_tests' model call is refused up front
    assert raised.value.persona == TESTING and raised.value.used == 750
    assert raised.value.budget == 700
    assert wf.flush()
    assert wf.handler.tracer.open_runs == 0
    (tree,) = sink.traces().values()
    assert tree.root.status is SpanStatus.ERROR
    node = tree.one("run_tests", SpanKind.NODE)
    assert node.status is SpanStatus.ERROR
    (refused,) = tree.children(node)
    assert refused.kind is SpanKind.LLM and refused.status is SpanStatus.ERROR
    assert refused.error.type.endswith("TokenBudgetExceeded")
    assert refused.usage is None and refused.cost_usd is None
    assert all(s.end_ns >= s.start_ns for s in tree.spans)
    wf.shutdown()


def test_prometheus_budget_gauge(tmp_path):
    prometheus_client = pytest.importorskip("prometheus_client")
    from langgraph_observe.sinks.prometheus import PrometheusSink

    registry = prometheus_client.CollectorRegistry()
    wf = ReleaseWorkflow(sinks=[PrometheusSink(registry=registry)])
    wf.invoke({"version": "1.2.0", "log": []})
    wf.shutdown()

    def sample(name, persona):
        for metric in registry.collect():
            for s in metric.samples:
                if s.name == name and s.labels.get("persona") == persona:
                    return s.value
        return None

    assert sample("langgraph_observe_budget_remaining_tokens", TESTING) == 50
    assert sample("langgraph_observe_budget_remaining_tokens", BACKEND) == 500
    assert sample("langgraph_observe_budget_limit_tokens", DEVOPS) == 1000


def test_wraps_an_existing_graph_and_attribution(tmp_path):
    sink = InMemorySink()
    wf = ObservedWorkflow(
        graphs.linear_graph(),
        sinks=[sink],
        personas={"plan": "planner", "research": "researcher", "write": "writer"},
        tenant="t-1",
        tags=["base"],
    )
    wf.invoke({"log": []}, tenant="t-2", tags=["call"])
    wf.flush()
    (tree,) = sink.traces().values()
    assert tree.root.trace.tenant == "t-2"
    assert set(tree.root.trace.tags) >= {"base", "call"}
    assert [n.persona for n in tree.children(tree.root)] == ["planner", "researcher", "writer"]
    llm = tree.children(tree.children(tree.root)[0])[0]
    assert llm.persona == "planner"
    assert switch_pairs(sink.records) == {("planner", "researcher"): 1, ("researcher", "writer"): 1}
    wf.shutdown()


async def test_async_invoke_and_streams(tmp_path):
    sink = InMemorySink()
    wf = ObservedWorkflow(graphs.linear_graph(), sinks=[sink], personas={"plan": "p"})
    await wf.ainvoke({"log": []}, user_id="a")
    chunks = [c async for c in wf.astream({"log": []}, user_id="b")]
    chunks += list(wf.stream({"log": []}, user_id="c"))
    assert len(chunks) == 6
    wf.flush()
    roots = sink.spans(SpanKind.WORKFLOW)
    assert sorted(r.trace.user_id for r in roots) == ["a", "b", "c"]
    assert all(r.status is SpanStatus.OK for r in roots)
    assert wf.handler.tracer.open_runs == 0
    wf.shutdown()


def test_plain_handler_gets_the_same_features_from_the_config_file(tmp_path):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], config=EXAMPLE.parent / "release.yaml")
    release = ReleaseWorkflow(sinks=[InMemorySink()])
    release.graph.invoke({"version": "3.0.0", "log": []}, config={"callbacks": [handler]})
    handler.flush()
    updates = sink.of_type(BudgetUpdate)
    assert [u.remaining_tokens for u in updates if u.persona == TESTING] == [1050, 50]
    assert {g.name for g in sink.scores()} == {"coverage", "no_failures", "published"}
    assert len(sink.of_type(PersonaSwitch)) == 4
    handler.shutdown()
    release.shutdown()


def test_score_through_workflow_and_directly_into_the_store(tmp_path, monkeypatch):
    from langgraph_observe import score

    db = tmp_path / "scores.db"
    wf = ReleaseWorkflow(sinks=[LocalStoreSink(db)])
    wf.invoke({"version": "1.0.0", "log": []})
    wf.score(wf.last_trace_id, "approved", True, "looks good", source="feedback")
    wf.shutdown()
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(db))
    score(wf.last_trace_id, "helpfulness", 4, source="eval")
    with LocalStore(db) as store:
        rows = {r["name"]: r for r in store.scores(trace_id=wf.last_trace_id)}
    assert rows["approved"]["value"] == 1 and rows["approved"]["comment"] == "looks good"
    assert rows["approved"]["source"] == "feedback"
    assert rows["helpfulness"]["value"] == 4.0 and rows["helpfulness"]["source"] == "eval"
    with pytest.raises(ValueError):
        score("not-a-trace", "x", 1)
    with pytest.raises(ValueError, match="32 hex digits"):
        score("z" * 32, "x", 1)  # the right length, not hex


def test_build_graph_required():
    with pytest.raises(NotImplementedError, match="build_graph"):
        ObservedWorkflow(sinks=[])


@pytest.mark.e2e
def test_example_runs_as_a_script(tmp_path):
    env = {**os.environ, "LANGGRAPH_OBSERVE_STRICT": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path / "ex.db")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "testing-specialist -> devops-engineer" in done.stdout
    assert "coverage     pass" in done.stdout
    with LocalStore(tmp_path / "ex.db") as store:
        assert len(store.traces()) == 1


@pytest.mark.parametrize("capture_io", [True, False])
def test_estimated_usage_and_cache_hits_cost_nothing(capture_io):
    from langchain_core.caches import InMemoryCache
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, StateGraph

    usage = {"input_tokens": 100, "output_tokens": 50, "total_tokens": 150}
    cached = GenericFakeChatModel(
        messages=iter([AIMessage("a", usage_metadata=usage)]), cache=InMemoryCache()
    )
    silent = GenericFakeChatModel(messages=iter([AIMessage("hello there, dear friends")]))

    def talk(state):
        cached.invoke("same question")
        cached.invoke("same question")  # answered from LangChain's cache
        silent.invoke("say hello to everyone in the room")  # no usage reported
        return {"log": ["x"]}

    g = StateGraph(graphs.State)
    g.add_node("talk", talk)
    g.add_edge(START, "talk")
    g.add_edge("talk", END)
    config = {
        "prices": {"generic-fake-chat-model": {"input": 1.0, "output": 2.0}},
        "personas": {"speaker": {"budget_tokens": 10_000}},
        "nodes": {"talk": "speaker"},
    }
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], config=config, capture_io=capture_io)
    g.compile().invoke({"log": []}, config={"callbacks": [handler]})
    handler.shutdown()
    first, hit, estimated = sorted(sink.spans(SpanKind.LLM), key=lambda s: s.start_ns)
    assert first.cost_usd == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6, abs=1e-15)
    assert hit.attributes["langgraph.llm.cache_hit"] is True and hit.cost_usd == 0.0
    assert estimated.usage.estimated is True
    assert estimated.usage.input_tokens > 5 and estimated.usage.output_tokens > 3
    assert estimated.cost_usd == pytest.approx(
        (estimated.usage.input_tokens * 1.0 + estimated.usage.output_tokens * 2.0) / 1e6
    )
    # the budget counts the first call and the estimate; the cache hit is free
    used = [u.used_tokens for u in sink.of_type(BudgetUpdate)]
    assert used == [150, 150, 150 + estimated.usage.total]
