"""The OTel sink's GenAI metrics: the five histograms and what each record adds to them.

Recording is most of the sink's cost besides the spans: the SDK cleans, copies and hashes
the attribute dict of every ``record()`` call. What can be saved here is saved: the label
dicts are built once per label combination and reused (the SDK copies what it is given,
so sharing them is safe), and the input and output token dicts come from the same
lookup.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

from .. import semconv as sc
from ..events import SpanKind, SpanRecord
from ._otel_attrs import ERROR_TYPE, GEN_AI_TOKEN_TYPE, metric_attributes

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "GenAIMetrics"]

TOKEN_BUCKETS = [
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
]
DURATION_BUCKETS = [
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
]

_MAX_LABEL_SETS = 4096  # more distinct label sets than this: start the cache over

_Labels = dict[str, str]


class GenAIMetrics:
    """The sink's histograms on ``meter``; :meth:`record` adds one span record."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used by GenAI operations.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._op_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of GenAI operations.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._time_to_first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from a streamed GenAI operation's start to its first chunk.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._workflow_duration = meter.create_histogram(
            "langgraph.workflow.duration",
            unit="s",
            description="Duration of LangGraph workflow runs.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._node_duration = meter.create_histogram(
            "langgraph.node.duration",
            unit="s",
            description="Duration of LangGraph node executions.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # label key -> (duration labels, input token labels, output token labels)
        self._genai: dict[tuple[Any, ...], tuple[_Labels, _Labels, _Labels]] = {}
        self._graph: dict[tuple[Any, ...], _Labels] = {}

    def record(self, record: SpanRecord, operation: str | None) -> None:
        """Add ``record`` (``operation``: its ``gen_ai.operation.name``) to the histograms."""
        kind = record.kind
        if kind is SpanKind.LLM or kind is SpanKind.EMBEDDING:
            labels, input_labels, output_labels = self._genai_labels(record, operation)
            self._op_duration.record(record.duration_s, labels)
            first_chunk = record.attributes.get(sc.LG_TIME_TO_FIRST_TOKEN)
            if first_chunk is not None:
                self._time_to_first_chunk.record(first_chunk, labels)
            usage = record.usage
            if usage is None:
                return
            if usage.input_tokens is not None:
                self._tokens.record(usage.input_tokens, input_labels)
            if usage.output_tokens is not None:
                self._tokens.record(usage.output_tokens, output_labels)
        elif kind is SpanKind.WORKFLOW or kind is SpanKind.NODE:
            graph = self._workflow_duration if kind is SpanKind.WORKFLOW else self._node_duration
            graph.record(record.duration_s, self._graph_labels(record))

    def _genai_labels(
        self, record: SpanRecord, operation: str | None
    ) -> tuple[_Labels, _Labels, _Labels]:
        error = record.error
        model = record.model or record.attributes.get(sc.GEN_AI_REQUEST_MODEL)
        answered = record.attributes.get(sc.GEN_AI_RESPONSE_MODEL)
        key = (
            operation,
            record.provider,
            model if isinstance(model, str) else None,
            answered if isinstance(answered, str) else None,
            error.type if error is not None else None,
        )
        found = self._genai.get(key)
        if found is None:
            labels = metric_attributes(record, operation)
            tokens = {k: v for k, v in labels.items() if k != ERROR_TYPE}
            found = (
                labels,
                {**tokens, GEN_AI_TOKEN_TYPE: "input"},
                {**tokens, GEN_AI_TOKEN_TYPE: "output"},
            )
            self._remember(self._genai, key, found)
        return found

    def _graph_labels(self, record: SpanRecord) -> _Labels:
        error = record.error
        key = (
            record.kind is SpanKind.NODE,
            record.trace.workflow,
            record.node,
            error.type if error is not None else None,
        )
        found = self._graph.get(key)
        if found is None:
            found = metric_attributes(record, None)
            self._remember(self._graph, key, found)
        return found

    @staticmethod
    def _remember(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
        if len(cache) >= _MAX_LABEL_SETS:
            cache.clear()
        cache[key] = value
