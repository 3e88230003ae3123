"""Langfuse observations written straight to OTLP ``Span.attributes`` fields.

What :mod:`._langfuse_map` says an observation carries, without building an attribute
dict first: values are JSON-encoded by type, and the fields that repeat from span to
span (observation type, metadata keys, node / persona / provider, step numbers, model
parameters) are encoded once and kept, by value, in small bounded tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from json.encoder import encode_basestring as _json_string
from json.encoder import encode_basestring_ascii as _json_ascii
from typing import Any

from .. import semconv as sc
from .._json import JsonWriter
from ..events import SpanKind, SpanRecord, SpanStatus
from ._langfuse_map import (
    _TYPES,
    GENERATION_TYPES,
    A,
    Mask,
    _iso,
    _metadata,
    _model_parameters,
    meta_json,
    payload_text,
    usage_details,
)
from ._otlp_wire import key_field, span_attribute, string_attribute

__all__ = ["ObservationWriter"]


_NOT_KEPT = object()
_NO_RECENT: tuple[Any, Any] = (_NOT_KEPT, _NOT_KEPT)
_SCALARS = frozenset({str, int, bool, type(None)})
_INT_OR_NONE = frozenset({int, type(None)})


def _value_key(value: Any) -> Any:
    """A hashable stand-in for ``value`` that equals another one only when both encode
    alike (types included: ``True == 1``, ``0.0 == -0.0``), or ``_NOT_KEPT``. Scalars,
    lists of strings and flat dicts of scalars and non-zero floats qualify."""
    t = type(value)
    if t in _SCALARS or (t is float and value):
        return (t, value)
    if t is list:
        for v in value:
            if type(v) is not str:
                return _NOT_KEPT
        return (t, tuple(value))
    if t is dict:
        items = []
        for k, v in value.items():
            vt = type(v)
            if type(k) is not str or not (vt in _SCALARS or (vt is float and v)):
                return _NOT_KEPT
            items.append((k, vt, v))
        return (t, tuple(items))
    return _NOT_KEPT


_FIXED_META = frozenset({"kind", "node", "persona", "provider", "error_type", "error_class"})
_META_PREFIX = A.OBSERVATION_METADATA + "."
_K_TYPE, _K_INPUT, _K_OUTPUT, _K_ROOT, _K_LEVEL, _K_STATUS = map(
    key_field,
    (A.OBSERVATION_TYPE, A.OBSERVATION_INPUT, A.OBSERVATION_OUTPUT, A.IS_APP_ROOT,
     A.OBSERVATION_LEVEL, A.OBSERVATION_STATUS_MESSAGE),
)  # fmt: skip
_K_MODEL, _K_PARAMS, _K_USAGE, _K_COST, _K_STARTED = map(
    key_field,
    (A.OBSERVATION_MODEL, A.OBSERVATION_MODEL_PARAMETERS, A.OBSERVATION_USAGE_DETAILS,
     A.OBSERVATION_COST_DETAILS, A.OBSERVATION_COMPLETION_START_TIME),
)  # fmt: skip
_PARAM_KEYS = (
    sc.LG_INVOCATION_PARAMS,
    sc.GEN_AI_REQUEST_TEMPERATURE,
    sc.GEN_AI_REQUEST_MAX_TOKENS,
    sc.GEN_AI_REQUEST_TOP_P,
)
_NO_EXTRA = [None, None, None]
_TYPE_FIELD = {t: string_attribute(_K_TYPE, t) for t in {*_TYPES.values(), "agent", "span"}}
_ROOT_FIELD = span_attribute(_K_ROOT, True)
_ERROR_FIELD = string_attribute(_K_LEVEL, "ERROR")
_INTERRUPTED_FIELD = string_attribute(_K_STATUS, "interrupted")
_CANCELLED_FIELD = string_attribute(_K_STATUS, "cancelled")
_MAX_KEPT = 1024  #: entries of each table (cleared when full)
_MAX_KEPT_TEXT = 32  #: longer strings are mostly unique (ids, queries): not kept


class ObservationWriter:
    """An observation's ``langfuse.*`` attributes (trace-level ones are
    :func:`~._langfuse_map.trace_attributes`) as a list of encoded ``Span.attributes``
    fields, in the order the Langfuse SDK's span processor sees them. One per sink (not
    thread-safe)."""

    def __init__(self, mask: Mask | None = None) -> None:
        self.mask = mask
        self._sdk_json = JsonWriter(separators=(", ", ": "), ascii_only=True)  # as json.dumps
        self._keys: dict[Any, bytes] = {}
        #: metadata fields by (key, value), one table per type of value (True == 1)
        self._kept: dict[type, dict[tuple[Any, Any], bytes]] = {str: {}, int: {}, bool: {}}
        self._kept_other: dict[tuple[Any, Any], bytes] = {}  # by (key, _value_key)
        self._heads: dict[tuple[Any, ...], bytes] = {}
        self._params: dict[Any, bytes] = {}
        self._models: dict[str, bytes] = {}
        self._recent = _NO_RECENT  #: a value of this span and its _value_key

    def attributes(self, record: SpanRecord) -> list[bytes]:
        """The encoded attribute fields of ``record``'s observation."""
        mask, kind = self.mask, record.kind
        self._recent = _NO_RECENT  # a value is only known to be unchanged within a span
        as_type = "agent" if kind is SpanKind.NODE and record.persona else _TYPES.get(kind, "span")
        parts = [_TYPE_FIELD.get(as_type) or string_attribute(_K_TYPE, as_type)]
        text: Any
        payload = record.input
        if payload is not None:
            text = payload.text
            if mask is not None or text[:1] == '"' or type(text) is not str:
                text = payload_text(payload, mask)
            parts.append(span_attribute(_K_INPUT, text))
        payload = record.output
        if payload is not None:
            text = payload.text
            if mask is not None or text[:1] == '"' or type(text) is not str:
                text = payload_text(payload, mask)
            parts.append(span_attribute(_K_OUTPUT, text))
        if record.parent_span_id is None:
            parts.append(_ROOT_FIELD)
        status, error = record.status, record.error
        if status is SpanStatus.ERROR:
            parts.append(_ERROR_FIELD)
            message = f"{error.type}: {error.message}" if error else "error"
            parts.append(string_attribute(_K_STATUS, message))
        elif status is SpanStatus.INTERRUPTED:
            parts.append(_INTERRUPTED_FIELD)
        elif status is SpanStatus.CANCELLED:
            parts.append(_CANCELLED_FIELD)
        if as_type in GENERATION_TYPES:
            self._generation(record, parts)
        if mask is not None:
            return self._masked_metadata(record, parts)
        mark = len(parts)
        fields = self._heads.get((kind, record.node, record.persona, record.provider))
        parts.append(fields or self._head(record))
        if error is not None:
            parts.append(self._encode_meta("error_type", error.type))
            parts.append(self._encode_meta("error_class", str(error.error_class)))
        kept = self._kept
        for key, value in record.attributes.items():
            if value is None:
                continue
            t = type(value)
            table = kept.get(t)
            if table is not None:
                found = table.get((key, value))
                if found is not None:
                    parts.append(found)
                    continue
            if key in _FIXED_META:  # not seen before: it may override a fixed key
                del parts[mark:]
                return self._masked_metadata(record, parts)
            parts.append(self._meta(key, value))
        return parts

    def _generation(self, record: SpanRecord, parts: list[bytes]) -> None:
        """Model, model parameters, usage, cost and completion start time."""
        attributes = record.attributes
        model = attributes.get(sc.GEN_AI_RESPONSE_MODEL) or record.model
        field = self._models.get(model) if type(model) is str else None
        if field is None:
            field = span_attribute(_K_MODEL, model)
            if type(model) is str and len(self._models) < _MAX_KEPT:
                self._models[model] = field
        parts.append(field)
        parts.append(self._params_field(attributes))
        parts.append(self._usage_field(record))
        cost = record.cost_usd
        if cost is not None:
            if type(cost) is float and cost - cost == 0.0:  # finite: as json.dumps writes it
                parts.append(string_attribute(_K_COST, f'{{"total": {float.__repr__(cost)}}}'))
            else:
                parts.append(string_attribute(_K_COST, self._sdk_json({"total": cost})))
        ttft = attributes.get(sc.LG_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
            started = _json_ascii(_iso(record.start_ns + int(ttft * 1e9)))
            parts.append(string_attribute(_K_STARTED, started))

    def _usage_field(self, record: SpanRecord) -> bytes:
        """The usage details field (empty without usage): the JSON of
        :func:`~._langfuse_map.usage_details`, written directly for integer counts."""
        u = record.usage
        if u is None:
            return b""
        i, o, t = u.input_tokens, u.output_tokens, u.total_tokens
        c, cc, r = u.cached_input_tokens, u.cache_creation_tokens, u.reasoning_tokens
        if c is None and cc is None and r is None and type(i) is int and type(o) is int:
            total = i + o if t is None else t if type(t) is int else -1
            if total >= 0 and i >= 0 and o >= 0:  # the usual usage, in one line
                text = '{"input": %d, "output": %d, "total": %d}' % (i, o, total)  # noqa: UP031
                return string_attribute(_K_USAGE, text)
        if not {type(i), type(o), type(t), type(c), type(cc), type(r)} <= _INT_OR_NONE:
            usage = usage_details(record)
            return string_attribute(_K_USAGE, self._sdk_json(usage)) if usage else b""
        c, cc, r = c or 0, cc or 0, r or 0
        items = []
        if i is not None:
            items.append(f'"input": {max(0, i - c - cc)}')
        if o is not None:
            items.append(f'"output": {max(0, o - r)}')
        if c:
            items.append(f'"input_cache_read": {c}')
        if cc:
            items.append(f'"input_cache_creation": {cc}')
        if r:
            items.append(f'"output_reasoning": {r}')
        if t is not None or i is not None or o is not None:
            items.append(f'"total": {t if t is not None else (i or 0) + (o or 0)}')
        return string_attribute(_K_USAGE, "{" + ", ".join(items) + "}") if items else b""

    def _params_field(self, attributes: Mapping[str, Any]) -> bytes:
        """The model parameters field (empty without parameters), kept by the values it
        comes from."""
        raw, *extra = [attributes.get(k) for k in _PARAM_KEYS]
        if extra == _NO_EXTRA:  # only invocation parameters (the usual case)
            key: Any = _value_key(raw)
            self._recent = (raw, key)  # its metadata field needs the same key
        else:
            key = tuple([_value_key(v) for v in (raw, *extra)])
        found = None if key is _NOT_KEPT or _NOT_KEPT in key else self._params.get(key)
        if found is None:
            params = _model_parameters(attributes)
            found = string_attribute(_K_PARAMS, self._sdk_json(params)) if params else b""
            if key is not _NOT_KEPT and _NOT_KEPT not in key:
                if len(self._params) >= _MAX_KEPT:
                    self._params.clear()
                self._params[key] = found
        return found

    def _meta_value(self, value: Any) -> str:
        """:func:`~._langfuse_map.meta_json`, the common types without ``json``."""
        t = type(value)
        if t is str:
            return _json_string(value)
        if t is int:
            if -9007199254740991 <= value <= 9007199254740991:  # JavaScript-safe: 2**53 - 1
                return int.__repr__(value)
        elif t is bool:
            return "true" if value else "false"
        elif t is float and value - value == 0.0:  # finite
            return float.__repr__(value)
        return meta_json(value)

    def _encode_meta(self, key: Any, value: Any) -> bytes:
        field = self._keys.get(key)
        if field is None:
            field = key_field(_META_PREFIX + key)
            if len(self._keys) >= _MAX_KEPT:
                self._keys.clear()
            self._keys[key] = field
        return string_attribute(field, self._meta_value(value))

    def _meta(self, key: Any, value: Any) -> bytes:
        """A metadata field of a key that is not a fixed one, kept when its value
        repeats (short strings, numbers, flags, lists of strings, flat dicts)."""
        t = type(value)
        table = self._kept.get(t)
        if table is not None:
            if t is str and len(value) > _MAX_KEPT_TEXT:
                return self._encode_meta(key, value)
            kept = value
        elif t is float:
            return self._encode_meta(key, value)
        else:
            recent = self._recent
            kept = recent[1] if value is recent[0] else _value_key(value)
            if kept is _NOT_KEPT:
                return self._encode_meta(key, value)
            table = self._kept_other
        found = table.get((key, kept))
        if found is None:
            found = self._encode_meta(key, value)
            if len(table) >= _MAX_KEPT:
                table.clear()
            table[(key, kept)] = found
        return found

    def _head(self, record: SpanRecord) -> bytes:
        """The kind, node, persona and provider metadata fields, kept by their values."""
        kind, node, persona, provider = record.kind, record.node, record.persona, record.provider
        fields = self._encode_meta("kind", str(kind))
        if node:
            fields += self._encode_meta("node", node)
        if persona:
            fields += self._encode_meta("persona", persona)
        if provider:
            fields += self._encode_meta("provider", provider)
        if type(kind) is SpanKind and all(
            v is None or type(v) is str for v in (node, persona, provider)
        ):
            if len(self._heads) >= _MAX_KEPT:
                self._heads.clear()
            self._heads[(kind, node, persona, provider)] = fields
        return fields

    def _masked_metadata(self, record: SpanRecord, parts: list[bytes]) -> list[bytes]:
        """The fields with the metadata through the mask (or with attributes overriding
        the fixed keys). Not kept: the kept fields are never those of a fixed key."""
        meta: Any = _metadata(record)
        if self.mask is not None:
            meta = self.mask(data=meta)
        if isinstance(meta, Mapping):
            for key, value in meta.items():
                if value is not None:
                    parts.append(self._encode_meta(key, value))
        elif meta is not None:
            parts.append(string_attribute(key_field(A.OBSERVATION_METADATA), meta_json(meta)))
        return parts
