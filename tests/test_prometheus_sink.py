"""PrometheusSink: records through a real Dispatcher, values read back from a fresh registry."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from langgraph_observe.config import ConfigError, Settings
from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.events import Record, SpanStatus
from langgraph_observe.metrics_catalog import METRICS, OVERFLOW, PREFIX, series_names
from langgraph_observe.sinks import prometheus as prom_sink
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.sinks.prometheus import PrometheusSink

from ._prometheus_records import extras, failed_retried_node, feed, one_run

pytestmark = pytest.mark.unit


def value(reg: CollectorRegistry, short: str, **labels: str) -> float | None:
    return reg.get_sample_value(PREFIX + short, labels)


def test_a_run_counts_everywhere():
    reg = CollectorRegistry()
    feed(
        one_run("support")
        + one_run("support", status=SpanStatus.ERROR, input_tokens=7, output_tokens=3, cost=0.5),
        reg,
    )
    assert value(reg, "workflow_runs_total", workflow="support", status="ok") == 1
    assert value(reg, "workflow_runs_total", workflow="support", status="error") == 1
    assert value(reg, "workflow_duration_seconds_count", workflow="support", status="ok") == 1
    assert value(reg, "workflow_duration_seconds_sum", workflow="support", status="ok") == 4.0
    assert value(reg, "workflows_in_progress", workflow="support") == 0
    node = {"workflow": "support", "node": "answer", "persona": "writer"}
    assert value(reg, "node_duration_seconds_count", **node) == 2
    assert value(reg, "node_runs_total", **node, status="ok") == 2
    llm = {"workflow": "support", "persona": "writer", "model": "gpt-x"}
    assert value(reg, "llm_calls_total", **llm, status="ok") == 2
    assert value(reg, "llm_duration_seconds_sum", persona="writer", model="gpt-x") == 4.0
    assert (
        value(
            reg, "llm_time_to_first_token_seconds_bucket", persona="writer", model="gpt-x", le="0.5"
        )
        == 2
    )
    assert value(reg, "tokens_total", **llm, type="input") == 107
    assert value(reg, "tokens_total", **llm, type="output") == 23
    assert value(reg, "tokens_total", **llm, type="cached") == 80
    assert value(reg, "tokens_total", **llm, type="reasoning") == 10
    assert value(reg, "cost_usd_total", **llm, tenant="acme") == pytest.approx(0.75)
    assert value(reg, "tool_calls_total", workflow="support", tool="search", status="ok") == 2
    assert value(
        reg, "tool_duration_seconds_sum", workflow="support", tool="search"
    ) == pytest.approx(0.2)
    assert value(reg, "retriever_duration_seconds_count", workflow="support", retriever="KB") == 2
    assert value(reg, "retriever_documents_sum", workflow="support", retriever="KB") == 6
    assert (
        value(reg, "retriever_documents_bucket", workflow="support", retriever="KB", le="2.0") == 0
    )


def test_in_progress_follows_started_and_finished_runs():
    reg = CollectorRegistry()
    run = one_run("long")
    sink = PrometheusSink(registry=reg)
    dispatcher = Dispatcher([sink], interval=0.01)
    try:
        dispatcher.emit(run[0])
        assert dispatcher.flush(5)
        assert value(reg, "workflows_in_progress", workflow="long") == 1
        dispatcher.emit_many(run[1:])
        assert dispatcher.flush(5)
        assert value(reg, "workflows_in_progress", workflow="long") == 0
        # a root span whose start was never seen does not push the gauge below zero
        dispatcher.emit(one_run("long")[-1])
        assert dispatcher.flush(5)
        assert value(reg, "workflows_in_progress", workflow="long") == 0
        assert value(reg, "workflow_runs_total", workflow="long", status="ok") == 2
    finally:
        dispatcher.shutdown()


def test_node_errors_by_class_and_retries():
    reg = CollectorRegistry()
    feed(failed_retried_node("etl") + one_run("etl"), reg)
    node = {"workflow": "etl", "node": "fetch", "persona": ""}
    assert value(reg, "node_errors_total", **node, error_class="timeout") == 1
    assert value(reg, "node_runs_total", **node, status="error") == 1
    assert value(reg, "node_runs_total", **node, status="ok") == 1
    assert value(reg, "node_retries_total", workflow="etl", node="fetch") == 1
    # attempt 1 is not a retry
    assert value(reg, "node_retries_total", workflow="etl", node="answer") is None


def test_personas_budgets_and_gates():
    reg = CollectorRegistry()
    feed(extras("support"), reg)
    assert (
        value(
            reg,
            "persona_switches_total",
            workflow="support",
            from_persona="planner",
            to_persona="writer",
        )
        == 1
    )
    assert (
        value(
            reg, "persona_switches_total", workflow="support", from_persona="", to_persona="planner"
        )
        == 1
    )
    budget = {"persona": "writer", "window": "day", "tenant": "acme", "workflow": ""}
    assert value(reg, "budget_remaining_tokens", **budget) == 100
    assert value(reg, "budget_limit_tokens", **budget) == 1000
    assert value(reg, "budget_remaining_usd", **budget) == pytest.approx(0.5)
    assert value(reg, "budget_limit_usd", **budget) == 2.0
    assert value(reg, "gate_results_total", workflow="support", gate="grounded", result="pass") == 1
    assert value(reg, "gate_results_total", workflow="support", gate="grounded", result="fail") == 1
    assert value(reg, "gate_results_total", workflow="support", gate="polite", result="fail") == 1
    # feedback scores are not gate results
    assert (
        value(reg, "gate_results_total", workflow="support", gate="helpful", result="pass") is None
    )


def test_tenants_are_capped_and_ids_never_become_labels():
    reg = CollectorRegistry()
    records: list[Record] = []
    for i in range(5):
        records += one_run("multi", tenant=f"t{i}")
    records += one_run("multi", tenant=None)
    feed(records, reg, max_tenants=3)
    text = generate_latest(reg).decode()
    tenants = set(re.findall(r'tenant="([^"]*)"', text))
    assert tenants == {"t0", "t1", "t2", OVERFLOW, ""}
    llm = {"workflow": "multi", "persona": "writer", "model": "gpt-x"}
    assert value(reg, "cost_usd_total", **llm, tenant=OVERFLOW) == pytest.approx(0.5)
    for needle in ("user-123", "sess-9"):
        assert needle not in text
    assert not re.search(r'"[0-9a-f]{16,32}"', text), "an id leaked into a label value"


def test_two_sinks_share_one_registry():
    reg = CollectorRegistry()
    feed(one_run("shared"), reg)
    feed(one_run("shared"), reg, name="prometheus-2")
    assert value(reg, "workflow_runs_total", workflow="shared", status="ok") == 2


def test_every_catalog_metric_is_registered_with_its_type():
    reg = CollectorRegistry()
    # fill every metric once so each family has samples; the dispatcher's health stays alive
    _sink, _dispatcher = feed(one_run() + failed_retried_node() + extras(), reg)
    found = {m.name: m.type for m in reg.collect()}
    for spec in METRICS:
        base = spec.name.removesuffix("_total") if spec.type == "counter" else spec.name
        assert found.get(base) == spec.type, spec.name
    exposed = {s.name for m in reg.collect() for s in m.samples}
    assert series_names() - exposed == set()
    for sample in exposed:
        assert sample in series_names() or sample.endswith("_created"), sample


def test_catalog_follows_prometheus_naming():
    for spec in METRICS:
        assert spec.name.startswith(PREFIX)
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", spec.name)
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        if spec.unit == "seconds":
            assert spec.name.endswith("_seconds")
        if spec.unit:
            assert spec.unit in spec.name
        assert (spec.type == "histogram") == bool(spec.buckets)
        assert list(spec.buckets) == sorted(spec.buckets)
        assert (spec.type == "gauge") == bool(spec.multiprocess_mode), spec.name
        for label in spec.labels:
            assert label not in {"trace_id", "span_id", "user_id", "session_id", "thread_id"}


class _Failing(BaseSink):
    name = "broken"

    def export(self, records: Sequence[Record]) -> None:
        raise RuntimeError("backend down")


class _Blocked(BaseSink):
    name = "slow"

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, records: Sequence[Record]) -> None:
        self.release.wait(5)


def test_health_is_read_at_scrape_time(monkeypatch):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STRICT", "0")  # the failing sink is the point
    reg = CollectorRegistry()
    blocked = _Blocked()
    sink = PrometheusSink(registry=reg)
    dispatcher = Dispatcher([sink, _Failing(), blocked], max_queue=3, batch_size=1, interval=0.01)
    try:
        dispatcher.emit_many(one_run("h"))
        assert value(reg, "sink_queue_depth", sink="slow") >= 1
        dispatcher.flush(0.5)
        snap = dispatcher.health.snapshot()
        assert snap["export_errors"]["broken"] > 0 and snap["dropped"][("slow", "queue_full")] > 0
        for sink_name, n in snap["export_errors"].items():
            assert value(reg, "sink_export_errors_total", sink=sink_name) == n
        for (sink_name, reason), n in snap["dropped"].items():
            assert value(reg, "spans_dropped_total", sink=sink_name, reason=reason) == n
        assert value(reg, "sink_export_errors_total", sink="prometheus") == 0
    finally:
        blocked.release.set()
        dispatcher.shutdown()


def test_autoconfigure_on_by_default_and_off_by_env(monkeypatch):
    reg = CollectorRegistry()
    monkeypatch.delenv(prom_sink.ENV_ENABLED, raising=False)
    monkeypatch.setenv(prom_sink.ENV_MAX_TENANTS, "7")
    sink, reason = prom_sink.autoconfigure(Settings(), registry=reg)
    assert isinstance(sink, PrometheusSink) and sink.max_tenants == 7
    assert reason.startswith("on:")
    for off in ("0", "false", "off"):
        monkeypatch.setenv(prom_sink.ENV_ENABLED, off)
        sink, reason = prom_sink.autoconfigure(Settings(), registry=reg)
        assert sink is None and reason.startswith("off:") and prom_sink.ENV_ENABLED in reason
    monkeypatch.setenv(prom_sink.ENV_ENABLED, "1")
    monkeypatch.setenv(prom_sink.ENV_MAX_TENANTS, "many")
    with pytest.raises(ConfigError, match=prom_sink.ENV_MAX_TENANTS):
        prom_sink.autoconfigure(Settings(), registry=reg)


def test_core_import_leaves_prometheus_client_out():
    code = (
        "import sys, langgraph_observe, langgraph_observe.metrics_catalog; "
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_dropped_counts_of_a_handler_that_is_gone_are_kept():
    import gc
    import weakref

    from langgraph_observe import CallbackHandler
    from langgraph_observe.testing import InMemorySink

    from . import graphs

    registry = CollectorRegistry()

    def dropped() -> float:
        text = generate_latest(registry).decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(f"{PREFIX}spans_dropped_total{{")
        )

    def one_handler() -> tuple[float, weakref.ref]:
        handler = CallbackHandler(sinks=[PrometheusSink(registry=registry), InMemorySink()])
        handler.shutdown(5)
        graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler]})  # dropped: closed
        return dropped(), weakref.ref(handler.health)

    while_alive, health = one_handler()
    assert while_alive > 0
    gc.collect()
    assert health() is None  # the handler and its counters are gone
    assert dropped() == while_alive  # and the counter did not go down


def test_budgets_per_workflow_have_a_gauge_per_workflow():
    from langgraph_observe.budgets import BudgetPolicy, BudgetTracker, PersonaBudget

    tracker = BudgetTracker(
        {"writer": PersonaBudget("writer", budget_tokens=1000)},
        BudgetPolicy(window="day", per_workflow=True),
    )
    a, _ = tracker.record("writer", trace_id="t1", tokens=950, usd=None, workflow="A")
    b, _ = tracker.record("writer", trace_id="t2", tokens=10, usd=None, workflow="B")
    reg = CollectorRegistry()
    feed([a, b], reg)
    day = {"persona": "writer", "window": "day", "tenant": ""}
    assert value(reg, "budget_remaining_tokens", **day, workflow="A") == 50
    assert value(reg, "budget_remaining_tokens", **day, workflow="B") == 990
    assert value(reg, "budget_limit_tokens", **day, workflow="A") == 1000
