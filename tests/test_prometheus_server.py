"""Against a real Prometheus (and Pushgateway) on 127.0.0.1: scraped values match the runs,
every shipped PromQL expression parses, the shipped alert rules evaluate, pushes arrive."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from langgraph_observe import CallbackHandler, SpanKind
from langgraph_observe.events import SpanRecord, WorkflowStarted
from langgraph_observe.exposition import push_metrics
from langgraph_observe.metrics_catalog import PREFIX
from langgraph_observe.sinks.prometheus import PrometheusSink
from langgraph_observe.testing import InMemorySink

from . import graphs
from ._prometheus_exprs import alert_exprs, dashboard_exprs, for_prometheus
from ._prometheus_records import feed, one_run
from ._prometheus_server import PromStack, http_get, prom_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["prom_stack"]  # the session fixture, imported for this module


def _tokens(spans: list[SpanRecord], kind: str) -> int:
    total = 0
    for s in spans:
        if s.usage is not None:
            total += {"input": s.usage.input_tokens, "output": s.usage.output_tokens}[kind] or 0
    return total


def test_scraped_values_match_the_runs(prom_stack: PromStack):
    records = one_run("e2e", input_tokens=120, output_tokens=30, cost=0.125)
    records += one_run("e2e", input_tokens=80, output_tokens=10, cost=0.375)
    records += one_run("e2e", input_tokens=1, output_tokens=1, cost=0.5)
    _s, _d = feed(records, prom_stack.registry)
    spans = [r for r in records if isinstance(r, SpanRecord)]
    runs = sum(1 for s in spans if s.kind == SpanKind.WORKFLOW)
    cost = sum(s.cost_usd or 0.0 for s in spans)

    expr = f'sum({PREFIX}workflow_runs_total{{workflow="e2e"}})'
    assert prom_stack.wait_for(expr, lambda v: v == runs) == runs
    got = prom_stack.scalar(f'sum({PREFIX}tokens_total{{workflow="e2e",type="input"}})')
    assert got == _tokens(spans, "input")
    got = prom_stack.scalar(f'sum({PREFIX}tokens_total{{workflow="e2e",type="output"}})')
    assert got == _tokens(spans, "output")
    got = prom_stack.scalar(f'sum by (tenant) ({PREFIX}cost_usd_total{{workflow="e2e"}})')
    assert got == pytest.approx(cost)
    p95 = prom_stack.scalar(
        f"histogram_quantile(0.95, sum by (le) "
        f'({PREFIX}workflow_duration_seconds_bucket{{workflow="e2e"}}))'
    )
    assert p95 is not None and 2.5 < p95 <= 5.0  # every run took 4 s


@pytest.mark.parametrize(("where", "expr"), dashboard_exprs() + alert_exprs())
def test_shipped_expressions_parse(prom_stack: PromStack, where: str, expr: str):
    answer = prom_stack.query(for_prometheus(expr))
    assert answer["status"] == "success", f"{where}: {answer.get('error')}"


def test_shipped_alert_rules_load_and_evaluate(prom_stack: PromStack):
    _s, _d = feed(one_run("rules"), prom_stack.registry)
    names = {where.split(": ", 1)[1] for where, _ in alert_exprs()}

    def evaluated() -> list[dict]:
        return [r for r in prom_stack.rules() if r.get("lastEvaluation", "").startswith("20")]

    deadline = time.monotonic() + 30
    while len(evaluated()) < len(names) and time.monotonic() < deadline:
        time.sleep(0.25)
    rules = prom_stack.rules()
    assert {r["name"] for r in rules} == names
    for r in rules:
        assert r["health"] == "ok", r


def test_pushgateway_receives_batch_metrics(prom_stack: PromStack):
    reg = CollectorRegistry()
    records = one_run("nightly-batch") + one_run("nightly-batch")
    _s, _d = feed(records, reg)
    push_metrics(
        prom_stack.gateway, job="nightly", registry=reg, grouping_key={"instance": "batch-1"}
    )
    text = http_get(f"http://{prom_stack.gateway}/metrics").decode()
    pushed = {
        (s.name, s.labels.get("workflow"), s.labels.get("job")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    key = (f"{PREFIX}workflow_runs_total", "nightly-batch", "nightly")
    assert pushed[key] == 2
    expr = f'sum({PREFIX}workflow_runs_total{{job="nightly",workflow="nightly-batch"}})'
    assert prom_stack.wait_for(expr, lambda v: v == 2) == 2


def test_real_langgraph_graph_reaches_prometheus(prom_stack: PromStack):
    memory = InMemorySink()
    handler = CallbackHandler(sinks=[PrometheusSink(registry=prom_stack.registry), memory])
    graph = graphs.linear_graph()
    for topic in ("metrics", "traces"):
        graph.invoke({"log": [], "topic": topic}, config={"callbacks": [handler]})
    assert handler.flush(5)
    handler.shutdown()
    spans = memory.spans()
    (workflow,) = {s.workflow for s in spans}
    runs = len(memory.spans(SpanKind.WORKFLOW))
    assert runs == 2
    sel = f'workflow="{workflow}"'
    assert (
        prom_stack.wait_for(f"sum({PREFIX}workflow_runs_total{{{sel}}})", lambda v: v == runs)
        == runs
    )
    for kind in ("input", "output"):
        expected = _tokens(memory.spans(SpanKind.LLM), kind)
        assert expected > 0
        got = prom_stack.scalar(f'sum({PREFIX}tokens_total{{{sel},type="{kind}"}})')
        assert got == expected, kind
    nodes = len(memory.spans(SpanKind.NODE))
    got = prom_stack.scalar(f"sum({PREFIX}node_runs_total{{{sel}}})")
    assert got == nodes
    started = {r.span_id for r in memory.of_type(WorkflowStarted)}
    assert started == {s.span_id for s in memory.spans(SpanKind.WORKFLOW)}
    assert prom_stack.scalar(f"sum({PREFIX}workflows_in_progress{{{sel}}})") == 0
    tools = len(memory.spans(SpanKind.TOOL))
    assert prom_stack.scalar(f"sum({PREFIX}tool_calls_total{{{sel}}})") == tools
