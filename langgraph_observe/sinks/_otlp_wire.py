"""OTLP/protobuf trace requests written straight to bytes.

An ``ExportTraceServiceRequest`` is a handful of nested messages; building them as
generated protobuf objects (what the OpenTelemetry exporter does) costs several times
more than writing the wire format directly. This module writes the subset a trace
export needs: one resource, one scope, spans with attributes, events and status.
Attribute values may be ``str``, ``bool``, ``int``, ``float`` or a list of those.
Strings are written as UTF-8; a lone surrogate (a Python string may hold one, e.g. from
``json.loads`` of broken text) becomes ``?`` instead of failing the whole request.

The output decodes with ``opentelemetry-proto`` (the tests check it field by field).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "SPAN_ATTRIBUTES",
    "WireSpan",
    "encode_attributes",
    "encode_request",
    "encode_span",
    "key_field",
    "span_attribute",
    "span_message",
    "string_attribute",
    "trace_field",
]

_INT64 = (1 << 64) - 1
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
#: ``Span.kind`` (field 6), then start and end time (fields 7 and 8, fixed64)
_KIND_AND_TIMES = struct.Struct("<2sBQBQ").pack

#: OTLP ``Status.code``
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
#: OTLP ``Span.kind``: internal
KIND_INTERNAL = 1


class WireSpan(NamedTuple):
    """One span to encode: ids are hex strings, times are Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    status_code: int = STATUS_UNSET
    status_message: str = ""
    events: Sequence[tuple[str, int, Mapping[str, Any]]] = ()


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return _HIGH[n & 0x7F] + _SMALL[n >> 7]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
_HIGH = [bytes((i | 0x80,)) for i in range(0x80)]  #: a varint's first byte of two


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag`` is the encoded field key."""
    return tag + _varint(len(payload)) + payload


# field keys (field number << 3 | wire type), pre-encoded
_K1_LEN, _K2_LEN, _K3_LEN, _K4_LEN, _K5_LEN = b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x2a"
_K11_LEN, _K15_LEN = b"\x5a", b"\x7a"
_K9_LEN = b"\x4a"
#: field key of ``Span.attributes``: with :func:`encode_attributes`, extra attributes can be
#: appended to an encoded span (repeated fields may come in any order)
SPAN_ATTRIBUTES = _K9_LEN
_ANY_STR, _ANY_BOOL, _ANY_INT, _ANY_DOUBLE, _ANY_ARRAY = b"\x0a", b"\x10", b"\x18", b"\x21", b"\x2a"


def _any_value(value: Any) -> bytes:
    t = type(value)
    if t is str:
        return _field(_ANY_STR, value.encode("utf-8", "replace"))
    if t is bool:
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if t is int:
        return _ANY_INT + _varint(value & _INT64)
    if t is float:
        return _ANY_DOUBLE + _DOUBLE(value)
    if t is list or t is tuple:
        values = b"".join(_field(_K1_LEN, _any_value(v)) for v in value)
        return _field(_ANY_ARRAY, values)
    if isinstance(value, bool):
        return _any_value(bool(value))
    if isinstance(value, int):
        return _any_value(int(value))
    if isinstance(value, float):
        return _any_value(float(value))
    return _field(_ANY_STR, str(value).encode("utf-8", "replace"))


_key_cache: dict[str, bytes] = {}
_MAX_KEYS = 4096


def key_field(key: str) -> bytes:
    """The encoded ``KeyValue.key`` field of ``key`` (cached for the first few thousand
    keys)."""
    k = _key_cache.get(key)
    if k is None:
        k = _field(_K1_LEN, key.encode("utf-8", "replace"))
        if len(_key_cache) < _MAX_KEYS:
            _key_cache[key] = k
    return k


def encode_attributes(tag: bytes, attributes: Mapping[str, Any]) -> bytes:
    """Repeated ``KeyValue`` fields under field key ``tag``; ``None`` values are left out."""
    parts: list[bytes] = []
    append = parts.append
    for key, value in attributes.items():
        if value is None:
            continue
        if type(value) is str:
            raw = value.encode("utf-8", "replace")
            any_value = _ANY_STR + _varint(len(raw)) + raw
        else:
            any_value = _any_value(value)
        kv = key_field(key) + _K2_LEN + _varint(len(any_value)) + any_value
        append(tag + _varint(len(kv)) + kv)
    return b"".join(parts)


def string_attribute(key: bytes, value: str) -> bytes:
    """One ``Span.attributes`` field with a string value, as :func:`encode_attributes`
    writes it; ``key`` comes from :func:`key_field`."""
    raw = value.encode("utf-8", "replace")
    n = len(raw)
    k = len(key)
    if n + k < 124:  # every length fits in one byte
        return b"".join((_ATTRIBUTE_HEAD[n + k + 4], key, _STRING_HEAD[n], raw))
    size = _varint(n)
    n += 1 + len(size)  # the AnyValue
    any_size = _varint(n)
    n += k + 1 + len(any_size)  # the KeyValue
    return b"".join((_K9_LEN, _varint(n), key, _K2_LEN, any_size, _ANY_STR, size, raw))


#: the field key and size of a short ``Span.attributes`` entry
_ATTRIBUTE_HEAD = [_K9_LEN + _SMALL[n] for n in range(0x80)]
#: ``KeyValue.value`` and ``AnyValue.string_value`` keys and sizes of a short string
_STRING_HEAD = [_K2_LEN + _SMALL[n + 2] + _ANY_STR + _SMALL[n] for n in range(0x7E)]


def span_attribute(key: bytes, value: Any) -> bytes:
    """One ``Span.attributes`` field of any supported value (nothing for ``None``)."""
    if type(value) is str:
        return string_attribute(key, value)
    if value is None:
        return b""
    any_value = _any_value(value)
    kv = key + _K2_LEN + _varint(len(any_value)) + any_value
    return _K9_LEN + _varint(len(kv)) + kv


def trace_field(trace_id: str) -> bytes:
    """The encoded ``Span.trace_id`` field (the same for every span of a trace)."""
    return _field(_K1_LEN, bytes.fromhex(trace_id))


def span_message(
    trace: bytes,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    attributes: list[bytes],
    events: Sequence[tuple[str, int, Mapping[str, Any]]] = (),
    status_code: int = STATUS_UNSET,
    status_message: str = "",
    extra_attributes: bytes = b"",
) -> bytes:
    """One ``Span`` message (without its enclosing field key) from its parts: ``trace``
    from :func:`trace_field`, ``attributes`` already encoded fields
    (:func:`encode_attributes`, :func:`string_attribute`), ``extra_attributes`` written
    after events and status."""
    raw_name = name.encode("utf-8", "replace")
    n = len(raw_name)
    parts = [
        trace,
        _ids(span_id, parent_span_id),
        _NAME_HEAD[n] if n < 0x80 else _K5_LEN + _varint(n),
        raw_name,
        _KIND_AND_TIMES(_KIND, 0x39, start_ns, 0x41, end_ns),
        *attributes,
    ]
    for ev_name, time_ns, attrs in events:
        event = b"\x09" + _FIXED64(time_ns) + _field(_K2_LEN, ev_name.encode("utf-8", "replace"))
        event += encode_attributes(_K3_LEN, attrs)
        parts.append(_field(_K11_LEN, event))
    if status_code or status_message:
        status = (
            _field(_K2_LEN, status_message.encode("utf-8", "replace")) if status_message else b""
        )
        if status_code:
            status += b"\x18" + _SMALL[status_code]
        parts.append(_field(_K15_LEN, status))
    parts.append(extra_attributes)
    return b"".join(parts)


_NAME_HEAD = [_K5_LEN + _SMALL[n] for n in range(0x80)]
_KIND = b"\x30" + _SMALL[KIND_INTERNAL]  #: ``Span.kind`` (field 6): internal


def _ids(span_id: str, parent_span_id: str | None) -> bytes:
    """The ``span_id`` and ``parent_span_id`` fields; 16 hex digits each decoded at once."""
    try:
        if len(span_id) == 16:
            if not parent_span_id:
                ids = bytes.fromhex("1208" + span_id)
                if len(ids) == 10:
                    return ids
            elif len(parent_span_id) == 16:
                ids = bytes.fromhex("1208" + span_id + "2208" + parent_span_id)
                if len(ids) == 20:
                    return ids
    except ValueError:
        pass  # raised again below, as for any id
    out = _field(_K2_LEN, bytes.fromhex(span_id))  # other lengths, or spaces in an id
    if parent_span_id:
        out += _field(_K4_LEN, bytes.fromhex(parent_span_id))
    return out


def encode_span(span: WireSpan) -> bytes:
    """One ``Span`` message (without its enclosing field key)."""
    return span_message(
        trace_field(span.trace_id),
        span.span_id,
        span.parent_span_id,
        span.name,
        span.start_ns,
        span.end_ns,
        [encode_attributes(_K9_LEN, span.attributes)],
        span.events,
        span.status_code,
        span.status_message,
    )


def encode_request(
    resource: Mapping[str, Any],
    scope_name: str,
    scope_version: str,
    spans: Iterable[bytes],
) -> bytes:
    """An ``ExportTraceServiceRequest`` of already encoded spans, under one resource and
    one instrumentation scope."""
    scope = _field(_K1_LEN, scope_name.encode("utf-8", "replace"))
    if scope_version:
        scope += _field(_K2_LEN, scope_version.encode("utf-8", "replace"))
    parts = [_K1_LEN, _varint(len(scope)), scope]
    for span in spans:
        parts += (_K2_LEN, _varint(len(span)), span)
    body = b"".join(parts)
    resource_spans = _field(_K1_LEN, encode_attributes(_K1_LEN, resource))
    resource_spans += _field(_K2_LEN, body)
    return _field(_K1_LEN, resource_spans)
