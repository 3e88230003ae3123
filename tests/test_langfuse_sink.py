"""The Langfuse sink through the real Langfuse SDK, exporting to a loopback receiver."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_observe.config import Settings
from langgraph_observe.events import Payload, ScoreRecord

from .otlp_receiver import OTLPReceiver, otlp_receiver, require
from .test_otel_sink import T0, make_trace, run_through_dispatcher

require("langfuse")
from opentelemetry import trace  # noqa: E402

from langgraph_observe.sinks.langfuse import LangfuseSink, autoconfigure  # noqa: E402

__all__ = ["otlp_receiver"]

LANGFUSE_PATH = "/api/public/otel/v1/traces"
pytestmark = pytest.mark.e2e


def keys() -> tuple[str, str]:
    token = uuid.uuid4().hex[:8]
    return f"pk-lf-{token}", f"sk-lf-{token}"


@pytest.fixture
def sink(otlp_receiver: OTLPReceiver) -> Iterator[LangfuseSink]:
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2, flush_interval=0.1)
    yield s
    s.shutdown(5)


def by_id(receiver: OTLPReceiver, n: int) -> dict[str, dict[str, Any]]:
    assert receiver.wait_for(lambda r: len(r.spans_at(LANGFUSE_PATH)) >= n), receiver.requests
    spans = receiver.spans_at(LANGFUSE_PATH)
    assert len(spans) == n, [s["name"] for s in spans]
    return {s["span_id"]: s for s in spans}


def test_observations_nesting_usage_and_trace_attributes(
    otlp_receiver: OTLPReceiver, sink: LangfuseSink
) -> None:
    records = make_trace()
    run_through_dispatcher(sink, records)
    spans = by_id(otlp_receiver, 5)
    for r in records:
        s = spans[r.span_id]
        assert (s["trace_id"], s["parent_span_id"]) == (r.trace_id, r.parent_span_id)
        assert (s["start_ns"], s["end_ns"]) == (r.start_ns, r.end_ns)
        assert s["auth"] == f"{sink.public_key}:{sink.public_key.replace('pk', 'sk', 1)}"
        a = s["attributes"]
        assert a["user.id"] == "u-1" and a["session.id"] == "s-1"
        assert a["langfuse.trace.tags"] == ["beta"]
        assert a["langfuse.trace.name"] == "support"
        assert json.loads(a["langfuse.trace.metadata.tenant"]) == "acme"
        assert json.loads(a["langfuse.trace.metadata.workflow"]) == "support"
    types = {s["name"]: s["attributes"]["langfuse.observation.type"] for s in spans.values()}
    assert types == {
        "support": "agent",
        "agent": "agent",  # a node running under a persona
        "tools": "chain",
        "ChatOpenAI": "generation",
        "search": "tool",
    }
    gen = spans["c" * 16]["attributes"]
    assert gen["langfuse.observation.model.name"] == "gpt-4o-2024-08-06"
    usage = json.loads(gen["langfuse.observation.usage_details"])
    assert usage == {
        "input": 100,
        "input_cache_read": 20,
        "output": 25,
        "output_reasoning": 5,
        "total": 150,
    }
    assert json.loads(gen["langfuse.observation.cost_details"]) == {"total": 0.0006}
    assert json.loads(gen["langfuse.observation.model.parameters"]) == {"temperature": 0.2}
    started = json.loads(gen["langfuse.observation.completion_start_time"])
    assert started.startswith("2023-11-14T22:13:20.012")  # start + time to first token
    assert json.loads(gen["langfuse.observation.metadata.persona"]) == "researcher"


def test_error_becomes_error_level(otlp_receiver: OTLPReceiver, sink: LangfuseSink) -> None:
    run_through_dispatcher(sink, make_trace(fail_tool=True))
    spans = by_id(otlp_receiver, 5)
    tool = spans["e" * 16]["attributes"]
    assert tool["langfuse.observation.level"] == "ERROR"
    assert tool["langfuse.observation.status_message"] == "ValueError: no results"
    assert spans["e" * 16]["status"]["code"] == 2
    assert "langfuse.observation.level" not in spans["c" * 16]["attributes"]


def test_scores(otlp_receiver: OTLPReceiver, sink: LangfuseSink) -> None:
    tid = "0af7651916cd43dd8448eb211c80319c"
    gate = ScoreRecord(
        trace_id=tid,
        name="grounded",
        value=True,
        time_ns=T0,
        span_id="c" * 16,
        source="gate",
        passed=True,
        workflow="support",
    )
    sink.score(tid, "helpfulness", 0.75, comment="thumbs up")
    sink.score(tid, "tone", "friendly")
    run_through_dispatcher(sink, [gate])  # flushes, then shuts the sink down
    assert otlp_receiver.wait_for(lambda r: len(r.scores) == 3), otlp_receiver.requests
    scores = {s["name"]: s for s in otlp_receiver.scores}
    assert scores["grounded"]["traceId"] == tid
    assert scores["grounded"]["observationId"] == "c" * 16
    assert (scores["grounded"]["value"], scores["grounded"]["dataType"]) == (1.0, "BOOLEAN")
    assert scores["grounded"]["metadata"]["source"] == "gate"
    assert scores["helpfulness"]["value"] == 0.75
    assert scores["helpfulness"]["comment"] == "thumbs up"
    assert scores["tone"]["dataType"] == "CATEGORICAL"
    assert scores["tone"]["auth"] == f"{sink.public_key}:{sink.public_key.replace('pk', 'sk')}"


def test_two_sinks_with_one_key_both_export(otlp_receiver: OTLPReceiver) -> None:
    pk, sk = keys()
    first = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2)
    second = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2)
    try:
        first.export(make_trace("1" * 32)[:1])
        second.export(make_trace("2" * 32)[:1])
        first.flush(5)
        second.flush(5)
        assert otlp_receiver.wait_for(lambda r: len(r.spans_at(LANGFUSE_PATH)) >= 2)
        assert sorted(s["trace_id"][0] for s in otlp_receiver.spans_at(LANGFUSE_PATH)) == [
            "1",
            "2",
        ]
    finally:
        second.shutdown(5)
        first.shutdown(5)


def test_both_sinks_each_observation_once_and_global_provider_unchanged(
    otlp_receiver: OTLPReceiver,
) -> None:
    """With the application's SDK provider installed globally (in a subprocess), the
    OTel sink exports there and Langfuse gets each observation exactly once."""
    code = textwrap.dedent(f"""
        from opentelemetry import trace
        from langgraph_observe.otel_setup import setup_otel
        from langgraph_observe.sinks.langfuse import LangfuseSink
        from langgraph_observe.sinks.otel import OTelSink
        from tests.test_otel_sink import make_trace, run_through_dispatcher
        tp, mp = setup_otel({otlp_receiver.url!r}, timeout_s=2)
        trace.set_tracer_provider(tp)
        app = trace.get_tracer_provider()
        lf = LangfuseSink("pk-lf-both", "sk-lf-both", {otlp_receiver.url!r}, timeout_s=2)
        otel = OTelSink()
        from langgraph_observe.dispatch import Dispatcher
        d = Dispatcher([otel, lf], interval=0.05)
        d.emit_many(make_trace())
        assert d.flush(10)
        d.shutdown(5)
        assert trace.get_tracer_provider() is app, "global tracer provider changed"
        tp.shutdown()
        mp.shutdown()
        print("ok")
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
    langfuse = otlp_receiver.spans_at(LANGFUSE_PATH)
    otel = otlp_receiver.spans_at("/v1/traces")
    assert sorted(s["span_id"] for s in langfuse) == sorted(r.span_id for r in make_trace())
    assert sorted(s["span_id"] for s in otel) == sorted(r.span_id for r in make_trace())
    assert all(s["scope"] == "langgraph_observe" for s in langfuse + otel)


def test_global_tracer_provider_untouched_in_process(otlp_receiver: OTLPReceiver) -> None:
    before = trace.get_tracer_provider()
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url)
    s.shutdown(2)
    assert trace.get_tracer_provider() is before
    assert isinstance(before, trace.ProxyTracerProvider)


def test_autoconfigure(monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver) -> None:
    for k in (
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
        "LANGFUSE_HOST",
        "LANGGRAPH_OBSERVE_LANGFUSE",
    ):
        monkeypatch.delenv(k, raising=False)
    sink, reason = autoconfigure(Settings())
    assert sink is None and "LANGFUSE_PUBLIC_KEY" in reason and reason.startswith("off:")
    pk, sk = keys()
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", pk)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", sk)
    sink, reason = autoconfigure(Settings())
    assert sink is None and "LANGFUSE_BASE_URL" in reason
    monkeypatch.setenv("LANGFUSE_HOST", otlp_receiver.url)
    sink, reason = autoconfigure(Settings())
    assert isinstance(sink, LangfuseSink) and reason.startswith("on:")
    sink.shutdown(2)
    monkeypatch.setenv("LANGGRAPH_OBSERVE_LANGFUSE", "0")
    assert autoconfigure(Settings())[0] is None


def test_missing_keys_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="public and a secret key"):
        LangfuseSink()


def test_attribute_names_are_the_sdks() -> None:
    """The sink writes Langfuse's OTel attributes itself: an SDK that renamed one would
    make Langfuse ignore it, and this test says so."""
    from langfuse import LangfuseOtelSpanAttributes

    from langgraph_observe.sinks._langfuse_map import A

    names = {k: v for k, v in vars(A).items() if k.isupper()}
    assert len(names) >= 15
    for name, value in names.items():
        assert getattr(LangfuseOtelSpanAttributes, name) == value, name


def test_wire_details_root_events_and_headers(
    otlp_receiver: OTLPReceiver, sink: LangfuseSink
) -> None:
    run_through_dispatcher(sink, make_trace())
    spans = by_id(otlp_receiver, 5)
    roots = [s for s in spans.values() if s["parent_span_id"] is None]
    assert [s["attributes"].get("langfuse.internal.is_app_root") for s in roots] == [True]
    assert all(
        "langfuse.internal.is_app_root" not in s["attributes"]
        for s in spans.values()
        if s["parent_span_id"]
    )
    llm = spans["c" * 16]
    assert [e["name"] for e in llm["events"]] == ["first_token"]
    assert llm["attributes"]["langfuse.observation.completion_start_time"].startswith('"20')
    headers = {k.lower(): v for k, v in otlp_receiver.trace_headers[0].items()}
    assert headers["x-langfuse-public-key"] == sink.public_key
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "application/x-protobuf"


def test_mask_applies_to_input_output_and_metadata(otlp_receiver: OTLPReceiver) -> None:
    def mask(*, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: ("***" if k in ("node", "card") else v) for k, v in data.items()}
        return data

    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2, mask=mask)
    secret = Payload.of_text('{"card": "4111 1111 1111 1111"}')
    records = [dataclasses.replace(r, input=secret, output=secret) for r in make_trace()]
    run_through_dispatcher(s, records)
    spans = by_id(otlp_receiver, 5)
    agent = spans["b" * 16]["attributes"]
    assert agent["langfuse.observation.metadata.node"] == '"***"'
    for span in spans.values():
        for key in ("langfuse.observation.input", "langfuse.observation.output"):
            assert json.loads(span["attributes"][key]) == {"card": "***"}


def test_sample_rate_keeps_whole_traces_by_trace_id(otlp_receiver: OTLPReceiver) -> None:
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2, sample_rate=0.5)
    ids = [f"{i:016x}{(i * 0x9E3779B97F4A7C15) % 2**64:016x}" for i in range(1, 41)]
    records = [r for tid in ids for r in make_trace(tid)]
    run_through_dispatcher(s, records)
    kept = {tid for tid in ids if int(tid[16:], 16) < 2**63}
    assert 5 < len(kept) < 35
    assert otlp_receiver.wait_for(lambda r: len(r.spans_at(LANGFUSE_PATH)) >= 5 * len(kept))
    time.sleep(0.2)
    got = otlp_receiver.spans_at(LANGFUSE_PATH)
    assert {sp["trace_id"] for sp in got} == kept
    assert len(got) == 5 * len(kept)


def test_mask_otel_spans_is_refused() -> None:
    with pytest.raises(ValueError, match="mask="):
        LangfuseSink("pk-lf-a", "sk-lf-a", "http://127.0.0.1:9", mask_otel_spans=lambda **k: None)


def test_a_batch_over_the_size_limit_is_split(
    otlp_receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES", "1500")
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2)
    assert s.max_request_bytes == 1500
    run_through_dispatcher(s, make_trace())
    spans = by_id(otlp_receiver, 5)
    assert sorted(spans) == sorted(r.span_id for r in make_trace())
    assert 1 < len(otlp_receiver.trace_headers) <= 5


def test_shutdown_leaves_no_thread_behind(otlp_receiver: OTLPReceiver) -> None:
    import threading

    before = set(threading.enumerate())
    pk, sk = keys()
    s = LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=2)
    run_through_dispatcher(s, make_trace())
    deadline = time.monotonic() + 5
    left = [t for t in threading.enumerate() if t not in before]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], [t.name for t in left]
