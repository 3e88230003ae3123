"""How a :class:`~langgraph_observe.events.SpanRecord` reads in OpenTelemetry GenAI terms.

Span names follow the GenAI conventions ("chat gpt-4o", "embeddings text-embedding-3-small",
"execute_tool search", "invoke_agent support_bot"); other spans keep the record's name.
Span attributes may be high-cardinality; :func:`metric_attributes` picks the few that
metrics may carry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from .. import semconv as sc
from ..events import SpanKind, SpanRecord, SpanStatus

__all__ = [
    "ERROR_TYPE",
    "GEN_AI_TOKEN_TYPE",
    "attributes_of",
    "metric_attributes",
    "operation_name",
    "otel_value",
    "span_attributes",
    "span_name",
]

ERROR_TYPE = "error.type"  #: OTel general convention: the exception type of a failed operation
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  #: ``input`` or ``output`` on the token histogram

_OPERATIONS = {
    SpanKind.LLM: "chat",
    SpanKind.EMBEDDING: "embeddings",
    SpanKind.TOOL: "execute_tool",
    SpanKind.WORKFLOW: "invoke_agent",
    SpanKind.SUBGRAPH: "invoke_agent",
}


def operation_name(record: SpanRecord) -> str | None:
    """``gen_ai.operation.name`` of the record: the adapter's when set, else by kind."""
    given = record.attributes.get(sc.GEN_AI_OPERATION_NAME)
    if isinstance(given, str) and given:
        return given
    return _OPERATIONS.get(record.kind)


def span_name(record: SpanRecord, operation: str | None) -> str:
    """The GenAI span name: ``{operation} {target}``, or the record's own name."""
    if operation in ("chat", "text_completion", "embeddings", "generate_content"):
        target = record.attributes.get(sc.GEN_AI_REQUEST_MODEL) or record.model
        return f"{operation} {target}" if target else operation
    if operation == "execute_tool":
        return f"execute_tool {record.attributes.get(sc.GEN_AI_TOOL_NAME) or record.name}"
    if operation == "invoke_agent":
        return f"invoke_agent {record.name}"
    return record.name


def otel_value(value: Any) -> Any:
    """``value`` as an OTel attribute value (str, bool, int, float or a homogeneous list);
    ``None`` when there is nothing to write. Anything else becomes JSON text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = [v for v in value if v is not None]
        if all(isinstance(v, str) for v in items):
            return list(items)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return list(items)
        if all(isinstance(v, bool) for v in items):
            return list(items)
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def _fields(record: SpanRecord, operation: str | None) -> Iterator[tuple[str, Any]]:
    trace = record.trace
    yield sc.GEN_AI_OPERATION_NAME, operation
    yield sc.LG_WORKFLOW, trace.workflow
    yield sc.LG_TENANT, trace.tenant
    yield sc.LG_THREAD_ID, trace.thread_id
    yield sc.GEN_AI_CONVERSATION_ID, trace.session_id or trace.thread_id
    yield sc.LG_NODE, record.node
    yield sc.LG_PERSONA, record.persona
    if record.kind in (SpanKind.WORKFLOW, SpanKind.SUBGRAPH):
        yield sc.GEN_AI_AGENT_NAME, record.persona or record.name
    elif record.persona:
        yield sc.GEN_AI_AGENT_NAME, record.persona
    if record.kind is SpanKind.TOOL:
        yield sc.GEN_AI_TOOL_NAME, record.name
    yield sc.GEN_AI_PROVIDER_NAME, record.provider
    yield sc.GEN_AI_REQUEST_MODEL, record.model
    usage = record.usage
    if usage is not None:
        yield sc.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens
        yield sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens
        yield sc.LG_USAGE_TOTAL, usage.total
        yield sc.LG_USAGE_CACHED_INPUT, usage.cached_input_tokens
        yield sc.LG_USAGE_CACHE_CREATION, usage.cache_creation_tokens
        yield sc.LG_USAGE_REASONING, usage.reasoning_tokens
        if usage.estimated:
            yield sc.LG_TOKENS_ESTIMATED, True
    yield sc.LG_COST_USD, record.cost_usd
    if record.error is not None:
        yield ERROR_TYPE, record.error.type
        yield sc.LG_ERROR_CLASS, str(record.error.error_class)
    if record.status is SpanStatus.INTERRUPTED:
        yield sc.LG_INTERRUPTED, True


def span_attributes(record: SpanRecord, operation: str | None) -> dict[str, Any]:
    """Every span attribute: the record's fields in semconv names, then its ``attributes``
    (which win: the adapter knows best)."""
    out: dict[str, Any] = {}
    for key, value in _fields(record, operation):
        if value is not None:
            out[key] = value
    for key, value in record.attributes.items():
        converted = otel_value(value)
        if converted is not None:
            out[key] = converted
    return out


def metric_attributes(record: SpanRecord, operation: str | None) -> dict[str, str]:
    """The low-cardinality attributes a metric point of this record may carry."""
    out: dict[str, str] = {}
    if record.kind in (SpanKind.LLM, SpanKind.EMBEDDING):
        if operation:
            out[sc.GEN_AI_OPERATION_NAME] = operation
        if record.provider:
            out[sc.GEN_AI_PROVIDER_NAME] = record.provider
        model = record.model or record.attributes.get(sc.GEN_AI_REQUEST_MODEL)
        if isinstance(model, str) and model:
            out[sc.GEN_AI_REQUEST_MODEL] = model
    else:
        out[sc.LG_WORKFLOW] = record.trace.workflow
        if record.kind is SpanKind.NODE and record.node:
            out[sc.LG_NODE] = record.node
    if record.error is not None:
        out[ERROR_TYPE] = record.error.type
    return out


def attributes_of(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Event attributes as OTel values."""
    return {k: v for k, v in ((k, otel_value(v)) for k, v in mapping.items()) if v is not None}
