"""Spans the OpenTelemetry SDK would drop (its batch queue is full) are counted by the
sinks instead of vanishing, and cost nothing to build."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.events import SpanKind, SpanRecord, TraceContext

from .otlp_receiver import require

require("opentelemetry.sdk")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from langgraph_observe.sinks._sdk_queue import SDKQueueGuard  # noqa: E402
from langgraph_observe.sinks.otel import OTelSink  # noqa: E402

pytestmark = pytest.mark.e2e


class BlockedExporter(SpanExporter):
    """An exporter stuck on a backend that never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def records(n: int) -> list[SpanRecord]:
    ctx = TraceContext(trace_id=f"{1:032x}", workflow="wf")
    now = time.time_ns()
    return [
        SpanRecord(trace=ctx, span_id=f"{i + 1:016x}", parent_span_id=None if i == 0 else
                   f"{1:016x}", name=f"s{i}", kind=SpanKind.CHAIN, start_ns=now, end_ns=now + 1)
        for i in range(n)
    ]  # fmt: skip


def test_full_sdk_queue_is_counted_not_logged(caplog):
    exporter = BlockedExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=8, max_export_batch_size=4,
                           schedule_delay_millis=10)
    )  # fmt: skip
    sink = OTelSink(provider)
    dispatcher = Dispatcher([sink])
    with caplog.at_level(logging.WARNING):
        for r in records(60):
            dispatcher.emit(r)
        dispatcher.flush(1)  # the SDK cannot flush: its exporter is stalled
    dropped = dispatcher.health.dropped.get(("otel", "sdk_queue_full"), 0)
    # the exporter holds one batch of 4 and the queue 8: everything else was counted
    assert 60 - 12 - 4 <= dropped <= 60 - 8
    assert not [r for r in caplog.records if "Queue full" in r.getMessage()]
    exporter.release.set()
    dispatcher.shutdown(5)
    provider.shutdown()
    assert exporter.exported + dropped == 60, (exporter.exported, dropped)


def test_guard_sees_no_queue_on_unknown_providers():
    assert SDKQueueGuard(object()).full() is False
    assert SDKQueueGuard(None).full() is False
