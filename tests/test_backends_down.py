"""Remote backends that hang do not slow the graph, drops are counted, and ``flush()`` and
``shutdown()`` return within their time limit.

The backend is a loopback server that accepts connections and never answers. Two sinks
talk to it: the OpenTelemetry sink (SDK tracer provider, batch OTLP/HTTP exporter) and a
sink that posts each batch over HTTP and waits for the answer (so its own queue fills).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from urllib.request import Request, urlopen

import pytest

from benchmarks import workload
from benchmarks.receiver import StallingServer
from langgraph_observe import CallbackHandler
from langgraph_observe.events import Record
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.testing import InMemorySink

from .otlp_receiver import require

pytestmark = [pytest.mark.e2e]

sdk_trace = require("opentelemetry.sdk.trace")
sdk_export = require("opentelemetry.sdk.trace.export")
sdk_metrics = require("opentelemetry.sdk.metrics")
otlp_http = require("opentelemetry.exporter.otlp.proto.http.trace_exporter")

QUEUE = 60


class PostingSink(BaseSink):
    """Posts every batch to ``url`` and waits for the answer, as a naive remote sink does."""

    name = "remote"

    def __init__(self, url: str) -> None:
        self.url = url
        self.posted = 0

    def export(self, records: Sequence[Record]) -> None:
        self.posted += 1
        with urlopen(Request(self.url + "/ingest", data=b"%d" % len(records)), timeout=30):
            pass


def _timed_runs(graph, handler, n: int) -> list[float]:
    times = []
    for i in range(n):
        t = time.perf_counter()
        out = graph.invoke(workload.inputs(i), {"callbacks": [handler]})
        times.append(time.perf_counter() - t)
        assert len(out["notes"]) == 3 + workload.FANOUT
    return times


def test_stalled_backends_neither_block_the_graph_nor_shutdown():
    graph = workload.build("sync")
    healthy = CallbackHandler(sinks=[InMemorySink()])
    _timed_runs(graph, healthy, 5)
    baseline = statistics.median(_timed_runs(graph, healthy, 20))
    healthy.shutdown(timeout=5)

    with StallingServer() as stalled:
        provider = sdk_trace.TracerProvider()
        provider.add_span_processor(
            sdk_export.BatchSpanProcessor(
                otlp_http.OTLPSpanExporter(endpoint=stalled.url + "/v1/traces", timeout=2),
                schedule_delay_millis=50,
            )
        )
        from langgraph_observe.sinks.otel import OTelSink

        posting = PostingSink(stalled.url)
        handler = CallbackHandler(
            sinks=[OTelSink(provider, sdk_metrics.MeterProvider()), posting],
            queue_size=QUEUE,
            flush_interval=0.05,
        )
        times = _timed_runs(graph, handler, 40)  # 40 x 15 records: far past the queue

        # the graph kept its pace (a loose bound: the benchmark measures the 5%)
        assert statistics.median(times) < 2 * baseline + 0.005, (times, baseline)
        assert stalled.accepted >= 1 and posting.posted >= 1
        # the stuck sink's queue stayed bounded (queue_size bounds the dispatcher's intake
        # and each sink's own queue) and the overflow was counted
        health = handler.health
        assert health.queue_depths()["remote"] <= 2 * QUEUE
        # not dropped (yet): what the intake holds, the sink's queue, the batch in flight
        assert health.dropped.get(("remote", "queue_full"), 0) >= 40 * 15 - 3 * QUEUE

        t = time.monotonic()
        assert handler.flush(timeout=0.5) is False
        assert time.monotonic() - t < 0.9
        t = time.monotonic()
        assert handler.shutdown(timeout=1) is False
        assert time.monotonic() - t < 1.5
        assert health.dropped.get(("remote", "shutdown"), 0) >= 1
        # still no harm after shutdown: the graph runs, records are dropped as "closed"
        _timed_runs(graph, handler, 1)
        assert health.dropped.get(("remote", "closed"), 0) >= 1
    provider.shutdown()
