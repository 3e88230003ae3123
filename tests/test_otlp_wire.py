"""The hand-written OTLP/protobuf encoder decodes with ``opentelemetry-proto`` to exactly
what was encoded, and to what the OpenTelemetry SDK's own encoder writes for the same span."""

from __future__ import annotations

from typing import Any

from langgraph_observe.sinks._otlp_wire import (
    STATUS_ERROR,
    WireSpan,
    encode_request,
    encode_span,
)

from .otlp_receiver import _decode_spans, require

require("opentelemetry.proto")

TRACE = "0af7651916cd43dd8448eb211c80319c"
VALUES: dict[str, Any] = {
    "s": "plain",
    "empty": "",
    "unicode": "h\u00e9llo \u2013 \u4e16\u754c \u2028",
    "long": "x" * 5000,
    "t": True,
    "f": False,
    "zero": 0,
    "big": 2**62 + 5,
    "neg": -42,
    "pi": 3.25,
    "negf": -1e-9,
    "strs": ["a", "b", ""],
    "ints": [1, -2, 300],
    "mixed": [1.5, True, "z"],
    "skipped": None,
}


def decode(body: bytes) -> list[dict[str, Any]]:
    return _decode_spans(body, "/v1/traces", None)


def test_every_field_and_value_type_round_trips() -> None:
    spans = [
        WireSpan(TRACE, "b7ad6b7169203331", None, "root", 10, 2**63 + 7, VALUES),
        WireSpan(
            TRACE,
            "00f067aa0ba902b7",
            "b7ad6b7169203331",
            "child ✓",
            1_700_000_000_000_000_001,
            1_700_000_000_000_000_999,
            {"k": "v"},
            STATUS_ERROR,
            "ValueError: boom",
            [("first_token", 1_700_000_000_000_000_500, {"n": 1}), ("bare", 5, {})],
        ),
    ]
    body = encode_request(
        {"service.name": "svc", "n": 3}, "scope", "1.2.3", [encode_span(s) for s in spans]
    )
    root, child = decode(body)
    assert root["resource"] == {"service.name": "svc", "n": 3}
    assert root["scope"] == "scope"
    assert (root["trace_id"], root["span_id"], root["parent_span_id"]) == (
        TRACE,
        "b7ad6b7169203331",
        None,
    )
    assert (root["start_ns"], root["end_ns"], root["kind"]) == (10, 2**63 + 7, 1)
    expected = {k: v for k, v in VALUES.items() if v is not None}
    assert root["attributes"] == expected
    assert root["status"] == {"code": 0, "message": ""}
    assert child["parent_span_id"] == "b7ad6b7169203331"
    assert child["name"] == "child ✓"
    assert child["status"] == {"code": 2, "message": "ValueError: boom"}
    assert child["events"] == [
        {"name": "first_token", "time_ns": 1_700_000_000_000_000_500, "attributes": {"n": 1}},
        {"name": "bare", "time_ns": 5, "attributes": {}},
    ]


def test_same_span_as_the_sdk_encoder_writes() -> None:
    require("opentelemetry.sdk")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attrs = {k: v for k, v in VALUES.items() if v is not None and k != "mixed"}
    span = provider.get_tracer("t").start_span("op", attributes=attrs, start_time=100)
    span.add_event("ev", {"a": "b"}, timestamp=150)
    span.set_status(Status(StatusCode.ERROR, "bad"))
    span.end(end_time=200)
    sdk_span = exporter.get_finished_spans()[0]
    ctx = sdk_span.context
    ours = WireSpan(
        f"{ctx.trace_id:032x}",
        f"{ctx.span_id:016x}",
        None,
        "op",
        100,
        200,
        attrs,
        STATUS_ERROR,
        "bad",
        [("ev", 150, {"a": "b"})],
    )
    theirs = decode(encode_spans([sdk_span]).SerializeToString())[0]
    mine = decode(encode_request({}, "t", "", [encode_span(ours)]))[0]
    for field in ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns"):
        assert mine[field] == theirs[field], field
    for field in ("end_ns", "attributes", "status", "events", "scope"):
        assert mine[field] == theirs[field], field
