"""The Langfuse sink's spans, byte for byte, against a plain reference encoding.

The sink writes each observation's attributes straight to protobuf fields and keeps
encoded fields it has seen; the reference builds the attribute dict first and encodes
it field by field, as the sink did before. Every record is sent twice, so the second
pass reads from the sink's tables.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from langgraph_observe import semconv as sc
from langgraph_observe.events import (
    ErrorClass,
    ErrorInfo,
    Payload,
    SpanEvent,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
)
from langgraph_observe.sinks._langfuse_map import (
    GENERATION_TYPES,
    A,
    _iso,
    _json,
    _metadata,
    _model_parameters,
    meta_json,
    observation_type,
    payload_text,
    trace_attributes,
    usage_details,
)

from .otlp_receiver import require

require("langfuse")
from langgraph_observe.sinks.langfuse import LangfuseSink  # noqa: E402

pytestmark = pytest.mark.unit


# -- the reference: attributes as a dict, then encoded one field at a time --------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _any(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value & (2**64 - 1))
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    if isinstance(value, (list, tuple)):
        return _field(0x2A, b"".join(_field(0x0A, _any(v)) for v in value))
    text = value if type(value) is str else str(value)
    return _field(0x0A, text.encode())


def _attributes(tag: int, attributes: Mapping[str, Any]) -> bytes:
    return b"".join(
        _field(tag, _field(0x0A, k.encode()) + _field(0x12, _any(v)))
        for k, v in attributes.items()
        if v is not None
    )


def reference_attributes(record: SpanRecord, mask: Any = None) -> dict[str, Any]:
    as_type = observation_type(record)
    attrs: dict[str, Any] = {
        A.OBSERVATION_TYPE: as_type,
        A.OBSERVATION_INPUT: payload_text(record.input, mask),
        A.OBSERVATION_OUTPUT: payload_text(record.output, mask),
    }
    if record.parent_span_id is None:
        attrs[A.IS_APP_ROOT] = True
    if record.status is SpanStatus.ERROR:
        attrs[A.OBSERVATION_LEVEL] = "ERROR"
        e = record.error
        attrs[A.OBSERVATION_STATUS_MESSAGE] = f"{e.type}: {e.message}" if e else "error"
    elif record.status is SpanStatus.INTERRUPTED:
        attrs[A.OBSERVATION_STATUS_MESSAGE] = "interrupted"
    elif record.status is SpanStatus.CANCELLED:
        attrs[A.OBSERVATION_STATUS_MESSAGE] = "cancelled"
    if as_type in GENERATION_TYPES:
        attrs[A.OBSERVATION_MODEL] = record.attributes.get(sc.GEN_AI_RESPONSE_MODEL) or record.model
        params = _model_parameters(record.attributes)
        if params:
            attrs[A.OBSERVATION_MODEL_PARAMETERS] = _json(params)
        usage = usage_details(record)
        if usage:
            attrs[A.OBSERVATION_USAGE_DETAILS] = _json(usage)
        if record.cost_usd is not None:
            attrs[A.OBSERVATION_COST_DETAILS] = _json({"total": record.cost_usd})
        ttft = record.attributes.get(sc.LG_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
            attrs[A.OBSERVATION_COMPLETION_START_TIME] = _json(
                _iso(record.start_ns + int(ttft * 1e9))
            )
    meta: Any = _metadata(record)
    if mask is not None:
        meta = mask(data=meta)
    if isinstance(meta, Mapping):
        for key, value in meta.items():
            if value is not None:
                attrs[A.OBSERVATION_METADATA + "." + key] = meta_json(value)
    elif meta is not None:
        attrs[A.OBSERVATION_METADATA] = meta_json(meta)
    return attrs


def reference_span(record: SpanRecord, common: bytes, mask: Any = None) -> bytes:
    out = _field(0x0A, bytes.fromhex(record.trace_id))
    out += _field(0x12, bytes.fromhex(record.span_id))
    if record.parent_span_id:
        out += _field(0x22, bytes.fromhex(record.parent_span_id))
    out += _field(0x2A, record.name.encode()) + b"\x30\x01"
    out += b"\x39" + struct.pack("<Q", record.start_ns)
    out += b"\x41" + struct.pack("<Q", max(record.end_ns, record.start_ns))
    out += _attributes(0x4A, reference_attributes(record, mask))
    for e in record.events:
        event = b"\x09" + struct.pack("<Q", e.time_ns) + _field(0x12, e.name.encode())
        out += _field(0x5A, event + _attributes(0x1A, e.attributes))
    if record.status is SpanStatus.ERROR:
        message = f"{record.error.type}: {record.error.message}" if record.error else ""
        out += _field(0x7A, (_field(0x12, message.encode()) if message else b"") + b"\x18\x02")
    return out + common + _attributes(0x4A, trace_attributes(record.trace))


# -- records that take every path -------------------------------------------------------


class Label(str):
    """A ``str`` subclass, as enum-like values are."""


def records() -> list[SpanRecord]:
    ctx = TraceContext(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        workflow="support ✓",
        tenant="acme",
        user_id="u" * 300,
        session_id="s-1",
        thread_id="th",
        tags=("beta", "ü"),
        metadata={"n": 1, "nested": {"a": [1, 2]}, "none": None},
    )
    bare = TraceContext(trace_id="1" * 32, workflow="w")
    base = SpanRecord(ctx, "b" * 16, "a" * 16, "chat", SpanKind.LLM, 10, 20)
    params = {"model_name": "m", "temperature": 0.2, "stop": None, "n": 1, "stream": True}
    r = dataclasses.replace
    return [
        r(base, span_id="a" * 16, parent_span_id=None, kind=SpanKind.WORKFLOW, name="root"),
        r(base, kind=SpanKind.NODE, node="plan", persona="researcher", provider="openai",
          attributes={sc.LG_STEP: 1, sc.LG_TRIGGERS: ["branch:to:plan"], "long": "x" * 40}),
        r(base, kind=SpanKind.NODE, node="plan", attributes={sc.LG_STEP: True, "f": 1.5}),
        r(base, kind=SpanKind.NODE, node="plan", attributes={sc.LG_STEP: 1.0, "l": ("a",)}),
        r(base, kind=SpanKind.LLM, model="gpt", provider="openai", node="plan",
          usage=TokenUsage(120, 30, 150, cached_input_tokens=20, reasoning_tokens=5),
          cost_usd=0.0006, input=Payload.of_text('"a json string"'), output=Payload("ok", 99),
          attributes={sc.GEN_AI_RESPONSE_MODEL: "gpt-x", sc.LG_INVOCATION_PARAMS: params,
                      sc.LG_TIME_TO_FIRST_TOKEN: 0.0123, "flags": [True], "d": {"k": -0.0}}),
        r(base, usage=TokenUsage(input_tokens=5), cost_usd=0.0,
          attributes={sc.LG_INVOCATION_PARAMS: {**params, "temperature": 0.0},
                      sc.GEN_AI_REQUEST_TEMPERATURE: 0.5, sc.LG_TIME_TO_FIRST_TOKEN: 1}),
        r(base, usage=TokenUsage(input_tokens=5), cost_usd=0,
          attributes={sc.LG_INVOCATION_PARAMS: {**params, "temperature": -0.0}}),
        r(base, usage=TokenUsage(output_tokens=3, total_tokens=2.5), cost_usd=math.inf,  # type: ignore[arg-type]
          attributes={sc.LG_INVOCATION_PARAMS: '{"top_p": 0.9, "model": "x"}',
                      sc.LG_TIME_TO_FIRST_TOKEN: True}),
        r(base, usage=TokenUsage(input_tokens=True, estimated=True), cost_usd=math.nan,  # type: ignore[arg-type]
          attributes={sc.LG_INVOCATION_PARAMS: {"n": float("nan")}}),
        r(base, usage=TokenUsage(), kind=SpanKind.EMBEDDING, model=None),
        *(r(base, usage=u) for u in (TokenUsage(10, 5), TokenUsage(10, 5, 20),
          TokenUsage(10, 5, -1), TokenUsage(10, 5, True), TokenUsage(-3, 5), TokenUsage(0, 0))),  # type: ignore[arg-type]
        r(base, kind=SpanKind.TOOL, status=SpanStatus.ERROR, node="tools",
          error=ErrorInfo("ValueError", "no \"results\"", ErrorClass.PERMANENT),
          events=(SpanEvent("first", 15, {"n": 1, "s": "x"}), SpanEvent("bare", 16)),
          attributes={"inf": -math.inf, "nan": math.nan, "big": 2**70, "enum": Label("v")}),
        r(base, kind=SpanKind.TOOL, status=SpanStatus.ERROR, node="tools"),
        r(base, kind=SpanKind.RETRIEVER, status=SpanStatus.INTERRUPTED, node=Label("plan"),
          attributes={"node": "overridden", "kind": "k", "z": None}),
        r(base, kind=SpanKind.NODE, status=SpanStatus.CANCELLED, node="plan"),
        r(base, kind=SpanKind.STEP, input=Payload.of_text("é" * 200), end_ns=5,
          output=Payload.of_text("y" * 20_000), attributes={"q": "é" * 100}),
        r(base, kind=SpanKind.CHAIN, span_id="c" * 8, parent_span_id="d" * 20, name="n" * 130),
        r(base, kind=SpanKind.MEMORY, span_id="ABCDEF0123456789", parent_span_id="",
          trace=bare, attributes={"l": ["a", 1], "d2": {"a": {"b": 1}}}),
    ]  # fmt: skip


@pytest.fixture
def sink() -> Iterator[LangfuseSink]:
    s = LangfuseSink("pk-lf-w", "sk-lf-w", "http://127.0.0.1:9", environment="prod")
    yield s
    s.shutdown(5)


def sent(sink: LangfuseSink, recs: list[SpanRecord]) -> list[bytes]:
    got: list[bytes] = []
    sink._send = got.extend  # type: ignore[method-assign]
    sink.export(recs)
    return got


def test_spans_match_the_reference_encoding(sink: LangfuseSink) -> None:
    recs = records()
    want = [reference_span(r, sink._common) for r in recs]
    first, second = sent(sink, recs), sent(sink, recs)
    assert len(first) == len(recs)
    for i, (record, expected) in enumerate(zip(recs, want, strict=True)):
        assert first[i] == expected, (i, record.kind, record.attributes)
        assert second[i] == expected, (i, "from the tables", record.attributes)


def test_masked_spans_match_the_reference_encoding() -> None:
    def mask(*, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: ("***" if k in ("node", "q") else v) for k, v in data.items()}
        return Label("masked") if data == "ok" else data

    def flat(*, data: Any) -> Any:
        return "all metadata" if isinstance(data, dict) else data

    for m in (mask, flat):
        s = LangfuseSink("pk-lf-m", "sk-lf-m", "http://127.0.0.1:9", mask=m)
        try:
            recs = records()
            want = [reference_span(r, s._common, m) for r in recs]
            assert sent(s, recs) == want
            assert sent(s, recs) == want
        finally:
            s.shutdown(5)


def test_a_key_that_is_not_a_string_fails_as_before(sink: LangfuseSink) -> None:
    record = SpanRecord(
        TraceContext("2" * 32, "w"), "e" * 16, None, "x", SpanKind.NODE, 1, 2, attributes={1: 2}
    )
    with pytest.raises(TypeError):
        reference_attributes(record)
    with pytest.raises(TypeError):
        sent(sink, [record])


def test_a_value_changed_between_spans_is_encoded_anew(sink: LangfuseSink) -> None:
    shared: dict[str, Any] = {"a": 1}
    ctx = TraceContext("3" * 32, "w")
    llm = SpanRecord(ctx, "a" * 16, None, "m", SpanKind.LLM, 1, 2,
                     attributes={sc.LG_INVOCATION_PARAMS: shared})  # fmt: skip
    node = SpanRecord(ctx, "b" * 16, "a" * 16, "n", SpanKind.NODE, 1, 2, attributes={"x": shared})
    later = dataclasses.replace(node, span_id="c" * 16, attributes={"x": {"a": 1}})
    sent(sink, [llm])
    shared["a"] = 2
    assert sent(sink, [node, later]) == [
        reference_span(node, sink._common),
        reference_span(later, sink._common),
    ]
