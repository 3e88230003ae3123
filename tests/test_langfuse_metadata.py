"""Trace and observation metadata through the Langfuse sink, compared with what the
Langfuse SDK itself writes for the same values (its ``propagate_attributes`` for trace
metadata, its observation metadata encoder for the rest)."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone
from typing import Any

import pytest

from langgraph_observe.events import SpanKind, SpanRecord, TraceContext
from langgraph_observe.sinks._langfuse_map import _metadata

from .otlp_receiver import OTLPReceiver, otlp_receiver, require
from .test_langfuse_sink import by_id, sink
from .test_otel_sink import T0, make_trace, run_through_dispatcher

require("langfuse")
from langfuse import propagate_attributes  # noqa: E402
from langfuse._client.attributes import _flatten_and_serialize_metadata  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from langgraph_observe.sinks.langfuse import LangfuseSink  # noqa: E402

__all__ = ["otlp_receiver", "sink"]

pytestmark = pytest.mark.e2e

TRACE_PREFIX = "langfuse.trace.metadata."
OBSERVATION_PREFIX = "langfuse.observation.metadata."

#: containers, and numbers JavaScript cannot read as they are
STRUCTURED: dict[str, Any] = {
    "cfg": {"region": "eu", "tier": 2},
    "ids": [1, 2**60, "ü"],
    "nested": {"a": [1, {"b": math.nan, "c": -math.inf}], "t": (1, 2)},
    "order_id": 2**60 + 1,
    "below": -(2**53),
    "safe": 2**53 - 1,
    "score": math.nan,
    "up": math.inf,
    "down": -math.inf,
    "ratio": 0.5,
    "flag": True,
    "none": None,
}
#: values around the 200-character limit, before and after encoding
LONG: dict[str, Any] = {
    "fits": "x" * 198,  # 200 encoded
    "escaped": '"' * 100,  # 100 characters, 202 encoded
    "quoted": 'say "hi"\n' * 30,
    "long_dict": {"k": "v" * 300},
    "short_dict": {"k": "v" * 150},
}
VALUES = {**STRUCTURED, **LONG}


def sdk_trace_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``langfuse.trace.metadata.*`` attributes the SDK's ``propagate_attributes``
    sets on the current span for ``metadata``."""
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    with tp.get_tracer("t").start_as_current_span("s"), propagate_attributes(metadata=metadata):
        pass
    tp.shutdown()
    (span,) = exporter.get_finished_spans()
    return {k: v for k, v in (span.attributes or {}).items() if k.startswith(TRACE_PREFIX)}


@pytest.mark.parametrize(
    ("values", "written", "dropped"),
    [
        (
            {**STRUCTURED, "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)},
            {"cfg", "ids", "nested", "order_id", "score", "up", "when"},
            {"none"},
        ),
        (LONG, {"fits", "short_dict"}, {"escaped", "quoted", "long_dict"}),
    ],
    ids=["structured", "long"],
)
def test_trace_metadata_is_what_the_sdk_propagates(
    otlp_receiver: OTLPReceiver,
    sink: LangfuseSink,
    values: dict[str, Any],
    written: set[str],
    dropped: set[str],
) -> None:
    records = make_trace()
    ctx = dataclasses.replace(records[0].trace, metadata=values)
    run_through_dispatcher(sink, [dataclasses.replace(r, trace=ctx) for r in records])
    spans = by_id(otlp_receiver, len(records))
    fixed = {"workflow": ctx.workflow, "tenant": ctx.tenant, "thread_id": ctx.thread_id}
    want = sdk_trace_metadata({**fixed, **values})
    names = {k[len(TRACE_PREFIX) :] for k in want}
    assert written <= names and not dropped & names
    for span in spans.values():
        got = {k: v for k, v in span["attributes"].items() if k.startswith(TRACE_PREFIX)}
        assert got == want


def test_observation_metadata_is_what_the_sdk_writes(
    otlp_receiver: OTLPReceiver, sink: LangfuseSink
) -> None:
    values = VALUES
    ctx = TraceContext(trace_id="4" * 32, workflow="w")
    first = SpanRecord(ctx, "a" * 16, None, "n", SpanKind.NODE, T0, T0 + 1, node="plan",
                       attributes=values)  # fmt: skip
    again = dataclasses.replace(first, span_id="b" * 16, parent_span_id="a" * 16)  # kept fields
    llm = dataclasses.replace(first, span_id="c" * 16, parent_span_id="a" * 16,
                              kind=SpanKind.LLM, model="m", attributes=values)  # fmt: skip
    run_through_dispatcher(sink, [first, again, llm])
    spans = by_id(otlp_receiver, 3)
    for record in (first, again, llm):
        want = _flatten_and_serialize_metadata(_metadata(record), "observation")
        attrs = spans[record.span_id]["attributes"]
        got = {k: v for k, v in attrs.items() if k.startswith(OBSERVATION_PREFIX)}
        assert got == want, record.span_id
        assert got[OBSERVATION_PREFIX + "score"] == '"NaN"'
        assert got[OBSERVATION_PREFIX + "order_id"] == f'"{2**60 + 1}"'
