"""The OTel sink's metrics (``sinks/_otel_metrics.py``): label dicts built once per label
combination, and the same points as building them for every record."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from langgraph_observe import semconv as sc
from langgraph_observe.events import ErrorInfo, SpanKind, SpanRecord, SpanStatus

from .otlp_receiver import require
from .test_otel_sink import make_trace, points

require("opentelemetry.sdk")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402

from langgraph_observe.sinks import _otel_metrics  # noqa: E402
from langgraph_observe.sinks._otel_metrics import GenAIMetrics  # noqa: E402

pytestmark = pytest.mark.unit


class Histogram:
    def __init__(self, name: str, calls: list[tuple[str, Any, Any]]) -> None:
        self.name, self.calls = name, calls

    def record(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        self.calls.append((self.name, amount, attributes))


class Meter:
    """Records every ``record()`` call, with the attribute dict object passed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def create_histogram(self, name: str, **kwargs: Any) -> Histogram:
        return Histogram(name, self.calls)


def llm(error: str | None = None, model: str = "gpt-4o") -> SpanRecord:
    record = make_trace()[0]
    assert record.kind is SpanKind.LLM
    return dataclasses.replace(
        record,
        model=model,
        status=SpanStatus.ERROR if error else SpanStatus.OK,
        error=ErrorInfo(error, "boom") if error else None,
    )


def test_label_dicts_are_built_once_per_combination() -> None:
    meter = Meter()
    metrics = GenAIMetrics(meter)  # type: ignore[arg-type]
    for record in (llm(), llm(), llm("TimeoutError"), llm(model="gpt-4o-mini")):
        metrics.record(record, "chat")
    by_call: dict[str, list[Any]] = {}
    for name, _, attributes in meter.calls:
        by_call.setdefault(name, []).append(attributes)
    durations = by_call["gen_ai.client.operation.duration"]
    assert durations[0] is durations[1]  # the same labels: the same dict
    assert durations[2] is not durations[0] and durations[2]["error.type"] == "TimeoutError"
    assert durations[3][sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    tokens = by_call["gen_ai.client.token.usage"]
    assert [t["gen_ai.token.type"] for t in tokens[:2]] == ["input", "output"]
    assert tokens[0] is tokens[2] and tokens[1] is tokens[3]
    assert all("error.type" not in t for t in tokens)


def test_points_split_by_error_type_but_tokens_do_not() -> None:
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    metrics = GenAIMetrics(mp.get_meter("t"))
    for record in (llm(), llm("TimeoutError"), llm()):
        metrics.record(record, "chat")
    durations = {
        p.attributes.get("error.type"): p.count
        for p in points(reader, "gen_ai.client.operation.duration")
    }
    assert durations == {None: 2, "TimeoutError": 1}
    tokens = {
        p.attributes["gen_ai.token.type"]: (p.count, p.sum)
        for p in points(reader, "gen_ai.client.token.usage")
    }
    assert tokens == {"input": (3, 360), "output": (3, 90)}
    mp.shutdown()


def test_a_full_cache_starts_over_with_the_right_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_otel_metrics, "_MAX_LABEL_SETS", 2)
    meter = Meter()
    metrics = GenAIMetrics(meter)  # type: ignore[arg-type]
    models = [f"m{i}" for i in range(5)] + ["m0"]
    for model in models:
        metrics.record(llm(model=model), "chat")
    durations = [a for n, _, a in meter.calls if n == "gen_ai.client.operation.duration"]
    assert [d[sc.GEN_AI_REQUEST_MODEL] for d in durations] == models
    assert len(metrics._genai) <= 2


def test_streamed_calls_record_their_time_to_first_chunk() -> None:
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    metrics = GenAIMetrics(mp.get_meter("t"))
    streamed = llm()
    streamed = dataclasses.replace(
        streamed, attributes={**streamed.attributes, sc.LG_TIME_TO_FIRST_TOKEN: 0.25}
    )
    failed = llm("TimeoutError")
    failed = dataclasses.replace(
        failed, attributes={**failed.attributes, sc.LG_TIME_TO_FIRST_TOKEN: 0.5}
    )
    plain = llm()
    plain = dataclasses.replace(
        plain,
        attributes={k: v for k, v in plain.attributes.items() if k != sc.LG_TIME_TO_FIRST_TOKEN},
    )
    for record in (streamed, plain, failed):  # the unstreamed call adds no point
        metrics.record(record, "chat")
    first_chunk = {
        p.attributes.get("error.type"): (p.count, p.sum)
        for p in points(reader, "gen_ai.client.operation.time_to_first_chunk")
    }
    assert first_chunk == {None: (1, 0.25), "TimeoutError": (1, 0.5)}
    (point,) = [
        p
        for p in points(reader, "gen_ai.client.operation.time_to_first_chunk")
        if "error.type" not in p.attributes
    ]
    assert point.attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert point.attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    mp.shutdown()
