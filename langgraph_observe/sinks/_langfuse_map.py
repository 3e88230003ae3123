"""How records read in Langfuse terms: observation types and attributes, trace
attributes and score fields. Plain data in, plain data out; no Langfuse import."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from enum import Enum
from json.encoder import encode_basestring as _json_string
from typing import Any

from .. import semconv as sc
from .._json import JsonWriter
from ..events import Payload, ScoreRecord, SpanKind, SpanRecord, TraceContext

__all__ = [
    "GENERATION_TYPES",
    "A",
    "Mask",
    "js_safe",
    "meta_json",
    "observation_type",
    "payload_text",
    "score_fields",
    "trace_attributes",
    "usage_details",
]

Mask = Callable[..., Any]  #: Langfuse's ``mask(*, data)``


class A:
    """Langfuse's OpenTelemetry attribute names (``langfuse.LangfuseOtelSpanAttributes``;
    a test checks they still match the installed SDK)."""

    TRACE_NAME = "langfuse.trace.name"
    TRACE_USER_ID = "user.id"
    TRACE_SESSION_ID = "session.id"
    TRACE_TAGS = "langfuse.trace.tags"
    TRACE_METADATA = "langfuse.trace.metadata"
    OBSERVATION_TYPE = "langfuse.observation.type"
    OBSERVATION_METADATA = "langfuse.observation.metadata"
    OBSERVATION_LEVEL = "langfuse.observation.level"
    OBSERVATION_STATUS_MESSAGE = "langfuse.observation.status_message"
    OBSERVATION_INPUT = "langfuse.observation.input"
    OBSERVATION_OUTPUT = "langfuse.observation.output"
    OBSERVATION_COMPLETION_START_TIME = "langfuse.observation.completion_start_time"
    OBSERVATION_MODEL = "langfuse.observation.model.name"
    OBSERVATION_MODEL_PARAMETERS = "langfuse.observation.model.parameters"
    OBSERVATION_USAGE_DETAILS = "langfuse.observation.usage_details"
    OBSERVATION_COST_DETAILS = "langfuse.observation.cost_details"
    ENVIRONMENT = "langfuse.environment"
    RELEASE = "langfuse.release"
    IS_APP_ROOT = "langfuse.internal.is_app_root"


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

_MAX_PROPAGATED = 200  #: Langfuse drops propagated trace attributes longer than this


def observation_type(record: SpanRecord) -> str:
    """The Langfuse observation type: agent for workflows, subgraphs and nodes that run
    under a persona; chain for other nodes and chains; generation, tool, retriever,
    embedding by kind; span for the rest (RAG sub-steps, memory, user steps)."""
    if record.kind is SpanKind.NODE and record.persona:
        return "agent"
    return _TYPES.get(record.kind, "span")


def _datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _iso(ns: int) -> str:
    """An RFC 3339 UTC time with microseconds, as the Langfuse SDK writes datetimes:
    ``datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(...)``, its rounding
    done the same way, the date and time of the last second seen kept."""
    global _last_second
    fraction, whole = math.modf(ns / 1e9)
    us = round(fraction * 1e6)  # half to even, as datetime rounds
    if us >= 1_000_000:
        us -= 1_000_000
        whole += 1.0
    elif us < 0:
        us += 1_000_000
        whole -= 1.0
    second = int(whole)
    last = _last_second
    if last[0] != second:
        if not 0 <= second < _YEAR_10000:
            return _datetime(ns).isoformat(timespec="microseconds").replace("+00:00", "Z")
        tm = time.gmtime(second)
        text = "%04d-%02d-%02dT%02d:%02d:%02d" % tm[:6]  # noqa: UP031
        last = _last_second = (second, text)
    return f"{last[1]}.{us:06d}Z"


_YEAR_10000 = 253_402_300_800
_last_second = (-1, "")


def _loads(text: str) -> Any:
    if text[:1] in ("{", "[", '"'):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _json(value: Any) -> str:
    """A non-string value as JSON, as the Langfuse SDK serialises inputs and details."""
    return json.dumps(value, default=str)


_MAX_SAFE_INT = 2**53 - 1  #: JavaScript's Number.MAX_SAFE_INTEGER
_MAX_DEPTH = 20  #: containers nested this deep are written as "<dict>", "<list>"
_META_JSON = JsonWriter(check_circular=False)  # js_safe values are fresh, bounded trees


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts
        return '"<not serializable object of type: int>"'


def _datetime_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.now().astimezone().tzinfo)
    text = value.isoformat()
    if value.tzinfo.tzname(None) == timezone.utc.tzname(None):  # type: ignore[union-attr]
        return text.replace("+00:00", "Z")
    return text


def js_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as the Langfuse SDK's serializer hands it to ``json``: integers outside
    JavaScript's safe range and NaN / Infinity as strings, tuples and sets as lists,
    containers nested 20 deep as ``"<dict>"`` / ``"<list>"``, datetimes in ISO 8601 and
    enums by their value. Other objects are left as they are (``json`` writes their
    ``str``). Containers are copied, never changed."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else _int_text(value)
    if t is float:
        if value - value == 0.0:  # finite
            return value
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    depth += 1
    if t is dict:
        if depth >= _MAX_DEPTH:
            return "<dict>"
        try:
            return {
                (k if type(k) is str else js_safe(k, depth)): (
                    v if type(v) is str else js_safe(v, depth)
                )
                for k, v in value.items()
            }
        except TypeError:  # a key that became a list
            return '"<not serializable object of type: dict>"'
    if t is list or t is tuple:
        if depth >= _MAX_DEPTH:
            return f"<{t.__name__}>"
        return [v if type(v) is str else js_safe(v, depth) for v in value]
    return _js_other(value, depth)


def _js_other(value: Any, depth: int) -> Any:
    """:func:`js_safe` for the other types, in the order the SDK's serializer tries
    them."""
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, float) and value - value != 0.0:
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, (Exception, KeyboardInterrupt)):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, Enum):
        return js_safe(value.value, depth)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "<not serializable bytes>"
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else _int_text(value)
    if isinstance(value, (str, float)):
        return value
    if isinstance(value, (tuple, set, frozenset, dict, list)):
        if depth >= _MAX_DEPTH:
            return f"<{type(value).__name__}>"
        if isinstance(value, dict):
            try:
                return {js_safe(k, depth): js_safe(v, depth) for k, v in value.items()}
            except TypeError:
                return f'"<not serializable object of type: {type(value).__name__}>"'
        return [js_safe(v, depth) for v in value]
    return value


def meta_json(value: Any) -> str:
    """A metadata value as the Langfuse SDK (v5) writes it: every value JSON-encoded,
    strings included (so ``"123"`` and ``123`` stay distinct), compact, non-ASCII kept,
    through :func:`js_safe` (so the JSON is valid and JavaScript reads it unchanged)."""
    if type(value) is str:
        return _json_string(value)
    try:
        return _META_JSON(js_safe(value))
    except Exception:  # as the SDK: one bad value never fails the others
        return f'"<not serializable object of type: {type(value).__name__}>"'


def payload_text(p: Payload | None, mask: Mask | None = None) -> str | None:
    """The ``input``/``output`` attribute: the rendered payload (a JSON string literal
    is unquoted, as the SDK leaves strings as they are). With ``mask``, the payload is
    decoded, masked and encoded again."""
    if p is None:
        return None
    text = p.text
    if mask is not None:
        value = mask(data=_loads(text))
        return value if isinstance(value, str) else _json(value)
    if text[:1] == '"':
        value = _loads(text)
        if isinstance(value, str):
            return value
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


def trace_attributes(trace: TraceContext) -> dict[str, Any]:
    """The trace-level attributes every observation of the trace carries: name, user,
    session, tags and metadata (workflow, tenant, thread and the run's metadata)."""
    meta: dict[str, Any] = {"workflow": trace.workflow}
    if trace.tenant:
        meta["tenant"] = trace.tenant
    if trace.thread_id:
        meta["thread_id"] = trace.thread_id
    for key, value in trace.metadata.items():
        if value is not None and key not in meta:
            meta[key] = value
    attrs: dict[str, Any] = {
        A.TRACE_NAME: trace.workflow[:_MAX_PROPAGATED],
        A.TRACE_USER_ID: trace.user_id[:_MAX_PROPAGATED] if trace.user_id else None,
        A.TRACE_SESSION_ID: (trace.session_id or "")[:_MAX_PROPAGATED] or None,
        A.TRACE_TAGS: [t[:_MAX_PROPAGATED] for t in trace.tags] or None,
    }
    prefix = A.TRACE_METADATA + "."
    for key, value in meta.items():
        text = meta_json(value)
        if len(text) <= _MAX_PROPAGATED:  # the SDK drops longer ones, encoded
            attrs[prefix + key] = text
    return {k: v for k, v in attrs.items() if v is not None}


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
