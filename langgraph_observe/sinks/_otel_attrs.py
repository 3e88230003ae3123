"""How a :class:`~langgraph_observe.events.SpanRecord` reads in OpenTelemetry GenAI terms.

Span names follow the GenAI conventions ("chat gpt-4o", "embeddings text-embedding-3-small",
"execute_tool search", "retrieval docs", "invoke_workflow support", "invoke_agent
researcher"); other spans keep the record's name. Where the conventions name what a record
attribute holds, the span carries it under that name (:data:`OTEL_NAMES`), and LangChain's
provider names become the conventions' well-known ones (:func:`provider_name`). Span
attributes may be high-cardinality; :func:`metric_attributes` picks the few that metrics
may carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import semconv as sc
from ..events import SpanKind, SpanRecord, SpanStatus, TokenUsage

__all__ = [
    "ERROR_TYPE",
    "GEN_AI_DATA_SOURCE_ID",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_WORKFLOW_NAME",
    "OTEL_NAMES",
    "attributes_of",
    "checked_attributes_of",
    "checked_span_attributes",
    "metric_attributes",
    "operation_name",
    "otel_value",
    "provider_name",
    "span_attributes",
    "span_name",
]

ERROR_TYPE = "error.type"  #: OTel general convention: the exception type of a failed operation
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  #: ``input`` or ``output`` on the token histogram
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"  #: on ``invoke_workflow`` spans
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"  #: on ``retrieval`` spans: the retriever

#: record attributes (and usage fields) the GenAI conventions have names for: written
#: under those names on OTel spans
OTEL_NAMES = {
    sc.LG_STREAMING: "gen_ai.request.stream",
    sc.LG_TIME_TO_FIRST_TOKEN: "gen_ai.response.time_to_first_chunk",
    sc.LG_RETRIEVER_QUERY: "gen_ai.retrieval.query.text",
    sc.LG_USAGE_CACHED_INPUT: "gen_ai.usage.cache_read.input_tokens",
    sc.LG_USAGE_CACHE_CREATION: "gen_ai.usage.cache_creation.input_tokens",
    sc.LG_USAGE_REASONING: "gen_ai.usage.reasoning.output_tokens",
}
_CACHE_READ = OTEL_NAMES[sc.LG_USAGE_CACHED_INPUT]
_CACHE_CREATION = OTEL_NAMES[sc.LG_USAGE_CACHE_CREATION]
_REASONING = OTEL_NAMES[sc.LG_USAGE_REASONING]

#: LangChain's provider names (``ls_provider``) whose ``gen_ai.provider.name`` well-known
#: value is spelled otherwise; the others (``openai``, ``anthropic``, ``groq``, ...) match
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "xai": "x_ai",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
}


def provider_name(provider: str) -> str:
    """``gen_ai.provider.name`` for a LangChain provider name."""
    return _PROVIDERS.get(provider, provider)


#: value types stored as they are (exactly these classes: subclasses take the slow path)
_PLAIN = frozenset({str, int, float, bool})
_JSON = json.JSONEncoder(default=str, separators=(",", ":"))  # json.dumps without the setup

_OPERATIONS = {
    SpanKind.LLM: "chat",
    SpanKind.EMBEDDING: "embeddings",
    SpanKind.TOOL: "execute_tool",
    SpanKind.RETRIEVER: "retrieval",
    SpanKind.WORKFLOW: "invoke_workflow",
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
        return f"invoke_agent {_agent(record) or record.name}"
    if operation in ("invoke_workflow", "retrieval"):
        return f"{operation} {record.name}"
    return record.name


def _agent(record: SpanRecord) -> str | None:
    """``gen_ai.agent.name``: the persona, or a subgraph's own name."""
    if record.kind is SpanKind.SUBGRAPH:
        return record.persona or record.name
    return record.persona


def otel_value(value: Any) -> Any:
    """``value`` as an OTel attribute value (str, bool, int, float or a homogeneous tuple);
    ``None`` when there is nothing to write. Anything else becomes JSON text.

    The result is already in the form the SDK's attribute cleaning leaves values in
    (sequences as tuples), so the span writer can store it as it is."""
    if value is None or value.__class__ in _PLAIN or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = tuple(v for v in value if v is not None)
        if all(isinstance(v, str) for v in items):
            return items
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return items
        if all(isinstance(v, bool) for v in items):
            return items
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError):
        return str(value)


def span_attributes(record: SpanRecord, operation: str | None) -> dict[str, Any]:
    """Every span attribute: the record's fields in semconv names, then its ``attributes``
    (which win: the adapter knows best)."""
    return checked_span_attributes(record, operation)[0]


def checked_span_attributes(
    record: SpanRecord, operation: str | None
) -> tuple[dict[str, Any], bool]:
    """:func:`span_attributes`, and whether it is clean already: in the form the SDK's
    attribute cleaning stores (:func:`otel_value` makes the ``attributes``' values so).
    Only a field of an unexpected type (they are typed) or a key that is not a non-empty
    string leaves it to the SDK's cleaning."""
    trace = record.trace
    out: dict[str, Any] = {}
    if operation is not None:
        out[sc.GEN_AI_OPERATION_NAME] = operation
    if trace.workflow is not None:
        out[sc.LG_WORKFLOW] = trace.workflow
    if trace.tenant is not None:
        out[sc.LG_TENANT] = trace.tenant
    if trace.thread_id is not None:
        out[sc.LG_THREAD_ID] = trace.thread_id
    conversation = trace.session_id or trace.thread_id
    if conversation is not None:
        out[sc.GEN_AI_CONVERSATION_ID] = conversation
    if record.node is not None:
        out[sc.LG_NODE] = record.node
    if record.persona is not None:
        out[sc.LG_PERSONA] = record.persona
    kind = record.kind
    if kind is SpanKind.WORKFLOW:
        out[GEN_AI_WORKFLOW_NAME] = record.name
    agent = _agent(record)
    if agent:
        out[sc.GEN_AI_AGENT_NAME] = agent
    if kind is SpanKind.TOOL and record.name is not None:
        out[sc.GEN_AI_TOOL_NAME] = record.name
    elif kind is SpanKind.RETRIEVER and record.name is not None:
        out[GEN_AI_DATA_SOURCE_ID] = record.name  # the span is "retrieval {data source}"
    if record.provider is not None:
        out[sc.GEN_AI_PROVIDER_NAME] = _PROVIDERS.get(record.provider, record.provider)
    if record.model is not None:
        out[sc.GEN_AI_REQUEST_MODEL] = record.model
    usage = record.usage
    if usage is not None:
        _add_usage(out, usage)
    if record.cost_usd is not None:
        out[sc.LG_COST_USD] = record.cost_usd
    if record.error is not None:
        if record.error.type is not None:
            out[ERROR_TYPE] = record.error.type
        out[sc.LG_ERROR_CLASS] = str(record.error.error_class)
    if record.status is SpanStatus.INTERRUPTED:
        out[sc.LG_INTERRUPTED] = True
    elif record.status is SpanStatus.CANCELLED:
        out[sc.LG_CANCELLED] = True
    clean = _PLAIN.issuperset(map(type, out.values()))
    return out, _add_attributes(out, record.attributes) and clean


def _add_usage(out: dict[str, Any], usage: TokenUsage) -> None:
    if usage.input_tokens is not None:
        out[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        out[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    out[sc.LG_USAGE_TOTAL] = usage.total
    if usage.cached_input_tokens is not None:
        out[_CACHE_READ] = usage.cached_input_tokens
    if usage.cache_creation_tokens is not None:
        out[_CACHE_CREATION] = usage.cache_creation_tokens
    if usage.reasoning_tokens is not None:
        out[_REASONING] = usage.reasoning_tokens
    if usage.estimated:
        out[sc.LG_TOKENS_ESTIMATED] = True


def _add_attributes(out: dict[Any, Any], mapping: Mapping[Any, Any]) -> bool:
    """Add ``mapping``'s values as OTel values; False when a key is not a non-empty
    string (left as it is, for the SDK's cleaning to convert or drop and count)."""
    plain_keys = True
    renamed = OTEL_NAMES
    for key, value in mapping.items():
        if key.__class__ is not str or not key:
            plain_keys = False
        elif key in renamed:
            key = renamed[key]
        if value.__class__ not in _PLAIN:
            value = otel_value(value)
            if value is None:
                continue
        out[key] = value
    return plain_keys


def metric_attributes(record: SpanRecord, operation: str | None) -> dict[str, str]:
    """The low-cardinality attributes a metric point of this record may carry."""
    out: dict[str, str] = {}
    if record.kind in (SpanKind.LLM, SpanKind.EMBEDDING):
        if operation:
            out[sc.GEN_AI_OPERATION_NAME] = operation
        if record.provider:
            out[sc.GEN_AI_PROVIDER_NAME] = _PROVIDERS.get(record.provider, record.provider)
        model = record.model or record.attributes.get(sc.GEN_AI_REQUEST_MODEL)
        if isinstance(model, str) and model:
            out[sc.GEN_AI_REQUEST_MODEL] = model
        answered = record.attributes.get(sc.GEN_AI_RESPONSE_MODEL)
        if isinstance(answered, str) and answered:
            out[sc.GEN_AI_RESPONSE_MODEL] = answered
    else:
        out[sc.LG_WORKFLOW] = record.trace.workflow
        if record.kind is SpanKind.NODE and record.node:
            out[sc.LG_NODE] = record.node
    if record.error is not None:
        out[ERROR_TYPE] = record.error.type
    return out


def attributes_of(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Event attributes as OTel values (as :func:`span_attributes`)."""
    return checked_attributes_of(mapping)[0]


def checked_attributes_of(mapping: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """:func:`attributes_of`, and whether it is clean already (its keys non-empty
    strings; the values are)."""
    out: dict[str, Any] = {}
    return out, _add_attributes(out, mapping)
