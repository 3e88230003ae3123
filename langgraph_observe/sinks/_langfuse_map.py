"""How records read in Langfuse terms: observation types, generation fields, trace
attributes and score fields. Plain data in, plain data out; no Langfuse import."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .. import semconv as sc
from ..events import Payload, ScoreRecord, SpanKind, SpanRecord, SpanStatus, TraceContext

__all__ = [
    "GENERATION_TYPES",
    "observation_fields",
    "observation_type",
    "score_fields",
    "trace_attributes",
    "usage_details",
]

GENERATION_TYPES = frozenset({"generation", "embedding"})

_TYPES = {
    SpanKind.WORKFLOW: "agent",
    SpanKind.SUBGRAPH: "agent",
    SpanKind.NODE: "chain",
    SpanKind.LLM: "generation",
    SpanKind.TOOL: "tool",
    SpanKind.RETRIEVER: "retriever",
    SpanKind.EMBEDDING: "embedding",
    SpanKind.CHAIN: "chain",
}

_MAX_PROPAGATED = 200  # Langfuse drops propagated trace attributes longer than this


def observation_type(record: SpanRecord) -> str:
    """The Langfuse observation type: agent for workflows, subgraphs and nodes that run
    under a persona; chain for other nodes and chains; generation, tool, retriever,
    embedding by kind; span for the rest (RAG sub-steps, memory, user steps)."""
    if record.kind is SpanKind.NODE and record.persona:
        return "agent"
    return _TYPES.get(record.kind, "span")


def _datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _payload(p: Payload | None) -> Any:
    if p is None:
        return None
    text = p.text
    if text[:1] in ("{", "[", '"'):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def usage_details(record: SpanRecord) -> dict[str, int] | None:
    """Langfuse usage keys, as its LangChain integration writes them: ``input`` and
    ``output`` without the cached / reasoning parts, which get keys of their own."""
    u = record.usage
    if u is None:
        return None
    out: dict[str, int] = {}
    cached, created, reasoning = (
        u.cached_input_tokens or 0,
        u.cache_creation_tokens or 0,
        u.reasoning_tokens or 0,
    )
    if u.input_tokens is not None:
        out["input"] = max(0, u.input_tokens - cached - created)
    if u.output_tokens is not None:
        out["output"] = max(0, u.output_tokens - reasoning)
    if cached:
        out["input_cache_read"] = cached
    if created:
        out["input_cache_creation"] = created
    if reasoning:
        out["output_reasoning"] = reasoning
    if u.total_tokens is not None or u.input_tokens is not None or u.output_tokens is not None:
        out["total"] = u.total
    return out or None


def _model_parameters(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    raw = attributes.get(sc.LG_INVOCATION_PARAMS)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, Mapping):
        params.update(raw)
    for key, name in (
        (sc.GEN_AI_REQUEST_TEMPERATURE, "temperature"),
        (sc.GEN_AI_REQUEST_MAX_TOKENS, "max_tokens"),
        (sc.GEN_AI_REQUEST_TOP_P, "top_p"),
    ):
        if attributes.get(key) is not None:
            params[name] = attributes[key]
    simple = {
        k: v
        for k, v in params.items()
        if isinstance(v, (str, int, float, bool)) and k not in ("model", "model_name")
    }
    return simple or None


def _metadata(record: SpanRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {"kind": str(record.kind)}
    if record.node:
        meta["node"] = record.node
    if record.persona:
        meta["persona"] = record.persona
    if record.provider:
        meta["provider"] = record.provider
    if record.error is not None:
        meta["error_type"] = record.error.type
        meta["error_class"] = str(record.error.error_class)
    for key, value in record.attributes.items():
        if value is not None:
            meta[key] = value
    return meta


def observation_fields(record: SpanRecord, as_type: str) -> dict[str, Any]:
    """Keyword arguments of the Langfuse observation class for this record."""
    fields: dict[str, Any] = {
        "input": _payload(record.input),
        "output": _payload(record.output),
        "metadata": _metadata(record),
    }
    if record.status is SpanStatus.ERROR:
        fields["level"] = "ERROR"
        error = record.error
        fields["status_message"] = f"{error.type}: {error.message}" if error else "error"
    elif record.status is SpanStatus.INTERRUPTED:
        fields["status_message"] = "interrupted"
    if as_type in GENERATION_TYPES:
        fields["model"] = record.attributes.get(sc.GEN_AI_RESPONSE_MODEL) or record.model
        fields["model_parameters"] = _model_parameters(record.attributes)
        fields["usage_details"] = usage_details(record)
        if record.cost_usd is not None:
            fields["cost_details"] = {"total": record.cost_usd}
        ttft = record.attributes.get(sc.LG_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
            fields["completion_start_time"] = _datetime(record.start_ns + int(ttft * 1e9))
    return {k: v for k, v in fields.items() if v is not None}


def _short(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[: _MAX_PROPAGATED - 2]


def trace_attributes(trace: TraceContext) -> dict[str, Any]:
    """Arguments of ``langfuse.propagate_attributes`` for every observation of the trace."""
    meta: dict[str, Any] = {"workflow": trace.workflow}
    if trace.tenant:
        meta["tenant"] = trace.tenant
    if trace.thread_id:
        meta["thread_id"] = trace.thread_id
    for key, value in trace.metadata.items():
        if value is not None and key not in meta:
            meta[key] = _short(value)
    out: dict[str, Any] = {
        "trace_name": trace.workflow[:_MAX_PROPAGATED],
        "metadata": meta,
        "user_id": trace.user_id[:_MAX_PROPAGATED] if trace.user_id else None,
        "session_id": (trace.session_id or "")[:_MAX_PROPAGATED] or None,
        "tags": [t[:_MAX_PROPAGATED] for t in trace.tags] or None,
    }
    return {k: v for k, v in out.items() if v is not None}


def score_fields(score: ScoreRecord) -> dict[str, Any]:
    """Keyword arguments of ``Langfuse.create_score`` for a score record."""
    value = score.value
    fields: dict[str, Any] = {
        "name": score.name,
        "trace_id": score.trace_id,
        "observation_id": score.span_id,
        "comment": score.comment,
        "timestamp": _datetime(score.time_ns),
    }
    if isinstance(value, bool):
        fields.update(value=1.0 if value else 0.0, data_type="BOOLEAN")
    elif isinstance(value, str):
        fields.update(value=value, data_type="CATEGORICAL")
    else:
        fields.update(value=float(value), data_type="NUMERIC")
    meta = {
        "source": score.source,
        "workflow": score.workflow,
        "node": score.node,
        "persona": score.persona,
        "passed": score.passed,
    }
    fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return {k: v for k, v in fields.items() if v is not None}
