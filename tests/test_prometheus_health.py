"""The health metrics (drops, export errors) in single-process and multiprocess mode, the
retriever document counts of RAG search steps and the tenant cap shared by sinks."""

from __future__ import annotations

import gc
import os
import re
import sys
import textwrap
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from langgraph_observe._health import Health
from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.metrics_catalog import DROP_REASONS, OVERFLOW, PREFIX, by_name
from langgraph_observe.sinks._prometheus_metrics import RegistryMetrics
from langgraph_observe.sinks.prometheus import PrometheusSink

from ._prometheus_records import feed, one_run
from .subprocesses import ROOT, run_python

DROPPED = f"{PREFIX}spans_dropped_total"
ERRORS = f"{PREFIX}sink_export_errors_total"


def dropped(reg: CollectorRegistry, sink: str, reason: str) -> float | None:
    return reg.get_sample_value(DROPPED, {"sink": sink, "reason": reason})


def drop_series(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.labels["sink"], s.labels["reason"]): s.value
        for fam in reg.collect()
        for s in fam.samples
        if s.name == DROPPED
    }


@pytest.mark.unit
def test_multiprocess_counts_every_short_lived_handler(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    reg = CollectorRegistry()
    for _ in range(50):  # a freed Health's id is usually given to the next one
        health = Health()
        sink = PrometheusSink(registry=reg)
        sink.bind(health)
        health.drop("otel", "queue_full", 1)
        sink.flush(1)
        del health, sink
        gc.collect()
    assert dropped(reg, "otel", "queue_full") == 50


@pytest.mark.unit
def test_multiprocess_forgets_a_handler_once_it_is_gone():
    metrics = RegistryMetrics(CollectorRegistry(), multiprocess=True)
    health = Health()
    health.drop("otel", "queue_full", 3)
    metrics.sync_health(health)
    assert len(metrics._seen) == 1
    del health
    gc.collect()
    assert len(metrics._seen) == 0


@pytest.mark.unit
def test_health_counter_never_dips_while_handlers_come_and_go():
    reg = CollectorRegistry()
    sink = PrometheusSink(registry=reg)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            health = Health()
            sink.bind(health)
            health.drop("otel", "queue_full", 1)
            del health  # retired right here

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    worker = threading.Thread(target=churn)
    worker.start()
    last, dips, failures = 0.0, 0, []
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                now = dropped(reg, "otel", "queue_full") or 0.0
            except RuntimeError as exc:  # the watched set changed during a scrape
                failures.append(exc)
                continue
            dips += now < last
            last = max(last, now)
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(old_interval)
    assert (dips, failures) == (0, [])
    assert last > 0


@pytest.mark.unit
def test_known_sinks_start_with_zero_drop_and_error_series():
    reg = CollectorRegistry()
    dispatcher = Dispatcher([PrometheusSink(registry=reg)], interval=0.01)
    try:
        assert dispatcher.flush(5)
        series = drop_series(reg)
        expected = {("prometheus", r) for r in DROP_REASONS if r != "open_run_evicted"}
        expected.add(("tracer", "open_run_evicted"))  # only the tracer counts that reason
        assert set(series) == expected  # bounded: known sinks x catalogued reasons
        assert set(series.values()) == {0.0}
        assert reg.get_sample_value(ERRORS, {"sink": "prometheus"}) == 0
    finally:
        dispatcher.shutdown()


_MP_WORKER = textwrap.dedent("""
    from prometheus_client import CollectorRegistry
    from langgraph_observe.dispatch import Dispatcher
    from langgraph_observe.sinks.prometheus import PrometheusSink

    d = Dispatcher([PrometheusSink(registry=CollectorRegistry())], interval=0.01)
    assert d.flush(5)
    for _ in range(3):  # each handler's first drops count, though ids get reused
        h = Dispatcher([PrometheusSink(registry=CollectorRegistry())], interval=0.01)
        h.health.drop("prometheus", "shutdown", 2)
        assert not h.flush(5)  # records were lost since the last flush
        h.shutdown()
        del h
    d.shutdown()
""")


@pytest.mark.e2e
def test_multiprocess_files_hold_zero_series_and_every_drop(tmp_path):
    mp_dir = tmp_path / "prom-mp"
    mp_dir.mkdir()
    run_python(_MP_WORKER, env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}, timeout=60)
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(mp_dir))
    series = drop_series(reg)
    for reason in DROP_REASONS:
        assert (("prometheus", reason) in series) == (reason != "open_run_evicted")
    assert series[("prometheus", "queue_full")] == 0
    assert series[("tracer", "open_run_evicted")] == 0
    assert series[("prometheus", "shutdown")] == 6
    assert reg.get_sample_value(ERRORS, {"sink": "prometheus"}) == 0


@pytest.mark.unit
def test_rag_search_steps_feed_retriever_documents():
    from langchain_core.runnables import RunnableLambda

    from langgraph_observe import CallbackHandler, rag

    reg = CollectorRegistry()
    handler = CallbackHandler(sinks=[PrometheusSink(registry=reg)])

    @rag.search
    def search(query: str) -> list[str]:
        return ["doc1", "doc2", "doc3"]

    RunnableLambda(lambda q: search(q)).invoke("hi", config={"callbacks": [handler]})
    handler.flush()
    handler.shutdown()
    labels = {"workflow": "RunnableLambda", "retriever": "search"}
    assert reg.get_sample_value(f"{PREFIX}retriever_documents_count", labels) == 1
    assert reg.get_sample_value(f"{PREFIX}retriever_documents_sum", labels) == 3


@pytest.mark.unit
def test_catalog_and_doc_name_the_tracer_drop_reason():
    assert "open_run_evicted" in DROP_REASONS
    assert "open_run_evicted" in by_name(DROPPED).help
    assert "open_run_evicted" in (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


@pytest.mark.unit
def test_tenant_cap_is_shared_by_the_sinks_of_a_registry():
    reg = CollectorRegistry()
    for i in range(4):
        records = one_run("capped", tenant=f"t{i}a") + one_run("capped", tenant=f"t{i}b")
        feed(records, reg, max_tenants=2, name=f"prometheus-{i}")
    tenants = set(re.findall(r'tenant="([^"]*)"', generate_latest(reg).decode()))
    assert tenants == {"t0a", "t0b", OVERFLOW}
