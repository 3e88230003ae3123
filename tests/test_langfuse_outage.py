"""The Langfuse sink when Langfuse is slow, busy, refusing or down: bounded flushes,
retries, drops counted by reason, and the pause after a failed batch."""

from __future__ import annotations

import time

import pytest

from .otlp_receiver import OTLPReceiver, otlp_receiver, require
from .test_otel_sink import make_trace

require("langfuse")

from langgraph_observe.dispatch import Dispatcher  # noqa: E402
from langgraph_observe.sinks.langfuse import LangfuseSink  # noqa: E402

from .test_langfuse_sink import LANGFUSE_PATH, keys  # noqa: E402

__all__ = ["otlp_receiver"]

pytestmark = pytest.mark.e2e


def test_flush_returns_within_timeout_when_langfuse_stalls(otlp_receiver: OTLPReceiver) -> None:
    otlp_receiver.stall = True
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=1)
    try:
        s.export(make_trace())
        s.score("0af7651916cd43dd8448eb211c80319c", "x", 1.0)
        started = time.monotonic()
        s.flush(0.5)
        assert time.monotonic() - started < 1.5
        assert otlp_receiver.wait_for(lambda r: len(r.requests) >= 1, 5)
    finally:
        otlp_receiver.stop()
        started = time.monotonic()
        s.shutdown(1.0)
        assert time.monotonic() - started < 2.5


def test_retries_a_busy_backend_and_counts_a_refused_batch(
    otlp_receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=3)
    d = Dispatcher([s], interval=0.05)
    try:
        otlp_receiver.fail_next = [503, 429]  # then accepted
        d.emit_many(make_trace("1" * 32))
        assert d.flush(10)
        assert len(otlp_receiver.spans_at(LANGFUSE_PATH)) == 5
        otlp_receiver.fail_next = [401, 401]  # not worth retrying
        with caplog.at_level("WARNING", logger="langgraph_observe"):
            d.emit_many(make_trace("2" * 32))
            assert not d.flush(10)  # refused: dropped, so not everything got out
            d.emit_many(make_trace("3" * 32))
            assert not d.flush(10)
            d.emit_many(make_trace("4" * 32))
            assert d.flush(10)
    finally:
        d.shutdown(5)
    assert len(otlp_receiver.spans_at(LANGFUSE_PATH)) == 10
    assert d.health.dropped == {("langfuse", "export_failed"): 10}
    assert d.health.export_errors == {"langfuse": 2}
    assert len(otlp_receiver.trace_headers) == 6
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Langfuse export failed" in m and "401" in m for m in messages) == 1
    assert sum("works again" in m for m in messages) == 1


def test_pauses_while_langfuse_is_down_then_tries_again(
    otlp_receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=0.6, outage_pause_s=2)
    d = Dispatcher([s], interval=0.05)
    try:
        otlp_receiver.fail_next = [503] * 100  # overloaded until further notice
        with caplog.at_level("WARNING", logger="langgraph_observe"):
            d.emit_many(make_trace("1" * 32))
            assert not d.flush(10)
            tried = len(otlp_receiver.trace_headers)
            assert tried >= 2  # retried within timeout_s, then given up
            d.emit_many(make_trace("2" * 32))  # within the pause: dropped unencoded
            assert not d.flush(10)
            assert len(otlp_receiver.trace_headers) == tried
            assert d.health.dropped == {
                ("langfuse", "export_failed"): 5,
                ("langfuse", "backend_down"): 5,
            }
            otlp_receiver.fail_next = []  # Langfuse is back
            time.sleep(2.2)
            d.emit_many(make_trace("3" * 32))  # the probe after the pause
            assert d.flush(10)
            d.emit_many(make_trace("4" * 32))
            assert d.flush(10)
    finally:
        d.shutdown(5)
    delivered = {sp["trace_id"] for sp in otlp_receiver.spans_at(LANGFUSE_PATH)}
    assert delivered == {"3" * 32, "4" * 32}
    assert d.health.export_errors == {"langfuse": 1}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("backend_down while it pauses 2 s" in m for m in messages) == 1
    assert sum("works again" in m for m in messages) == 1


def test_no_pause_when_outage_pause_is_zero(otlp_receiver: OTLPReceiver) -> None:
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=0.3, outage_pause_s=0)
    d = Dispatcher([s], interval=0.05)
    tried = []
    try:
        otlp_receiver.fail_next = [503] * 100
        for trace_id in ("5" * 32, "6" * 32):
            d.emit_many(make_trace(trace_id))
            assert not d.flush(10)  # every batch refused
            tried.append(len(otlp_receiver.trace_headers))
    finally:
        d.shutdown(5)
    assert 0 < tried[0] < tried[1]  # the second batch was tried as well
    assert d.health.dropped == {("langfuse", "export_failed"): 10}


def test_the_rest_of_a_split_batch_waits_out_the_pause(
    otlp_receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES", "1500")
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=0.3, outage_pause_s=30)
    d = Dispatcher([s], interval=0.05)
    try:
        otlp_receiver.fail_next = [503] * 100
        d.emit_many(make_trace("7" * 32))
        assert not d.flush(10)
        requests = len(otlp_receiver.trace_headers)
    finally:
        d.shutdown(5)
    dropped = d.health.dropped
    failed = dropped[("langfuse", "export_failed")]
    assert 0 < failed < 5  # only the first request's spans were tried
    assert dropped[("langfuse", "backend_down")] == 5 - failed
    assert requests <= 2  # one request and its retry within timeout_s
