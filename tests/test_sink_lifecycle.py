"""Sinks at the edges of their life: a shutdown that must not wait for a stuck export, what
was counted as dropped never exported later, a store file deleted under the writer, a
broken meter that must not cost the spans."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from langgraph_observe import CallbackHandler
from langgraph_observe.events import Record
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from . import graphs
from .otlp_receiver import require

pytestmark = pytest.mark.unit


class StuckSink(BaseSink):
    """Its export blocks until released; its shutdown needs the lock the export holds (as
    the store's writer does)."""

    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.exported = 0
        self.after_shutdown = 0
        self.closed = False

    def export(self, records: Sequence[Record]) -> None:
        with self.lock:
            self.release.wait(30)
            self.exported += len(records)
            if self.closed:
                self.after_shutdown += len(records)

    def shutdown(self, timeout: float) -> None:
        with self.lock:
            self.closed = True


def test_shutdown_keeps_its_time_limit_and_drops_are_never_exported_later():
    sink = StuckSink()
    handler = CallbackHandler(sinks=[sink], flush_interval=0.05)
    graph = graphs.linear_graph()
    graph.invoke({"log": []}, {"callbacks": [handler]})
    time.sleep(0.3)  # the first batch is now stuck in export
    for _ in range(3):
        graph.invoke({"log": []}, {"callbacks": [handler]})
    started = time.monotonic()
    assert handler.shutdown(timeout=1) is False
    assert time.monotonic() - started < 1.5
    dropped = handler.health.dropped.get(("stuck", "shutdown"), 0)
    assert dropped > 0
    sink.release.set()
    deadline = time.monotonic() + 5
    while not sink.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sink.closed  # shut down once the export returned, in the background
    assert sink.after_shutdown == 0
    per_run = sink.exported  # only the first, stuck batch got out, after the deadline
    # each record counted once: the batch in flight at the deadline (shutdown gave up on it,
    # its late export counts for nothing) and the three runs still queued
    assert dropped == 4 * per_run
    assert handler.health.dropped == {("stuck", "shutdown"): dropped}


def test_a_store_deleted_under_the_writer_is_opened_again(tmp_path, caplog):
    """The writer, and a reader kept open (as ``serve`` keeps one), both follow the path
    to the new file."""
    path = tmp_path / "traces.db"
    handler = CallbackHandler(sinks=[LocalStoreSink(path)])
    graph = graphs.linear_graph()
    graph.invoke({"log": []}, {"callbacks": [handler]})
    graph.invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(5)
    reader = LocalStore(path)
    assert len(reader.traces()) == 2
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    with caplog.at_level("WARNING", logger="langgraph_observe"):
        graph.invoke({"log": []}, {"callbacks": [handler]})
        assert handler.flush(5)
    handler.shutdown(5)
    assert any("deleted or replaced" in r.getMessage() for r in caplog.records)
    with LocalStore(path) as store:
        assert len(store.traces()) == 1  # the run after the deletion
    assert len(reader.traces()) == 1
    reader.close()


def test_a_broken_meter_does_not_cost_the_spans():
    sdk_trace = require("opentelemetry.sdk.trace")
    export = require("opentelemetry.sdk.trace.export")
    memory = require("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from opentelemetry import metrics

    from langgraph_observe.sinks.otel import OTelSink

    class BrokenHistogram:
        def record(self, *args, **kwargs):
            raise RuntimeError("meter backend broken")

    class BrokenMeter:
        def create_histogram(self, *args, **kwargs):
            return BrokenHistogram()

    class BrokenMeterProvider(metrics.MeterProvider):
        def get_meter(self, *args, **kwargs):
            return BrokenMeter()

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    handler = CallbackHandler(sinks=[OTelSink(provider, BrokenMeterProvider())])
    graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(5)
    handler.shutdown(5)
    names = [s.name for s in exporter.get_finished_spans()]
    assert len(names) == 8 and any(n.startswith("invoke_workflow") for n in names)
    assert handler.health.dropped == {}
