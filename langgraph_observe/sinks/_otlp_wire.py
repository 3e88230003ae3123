"""OTLP/protobuf trace requests written straight to bytes.

An ``ExportTraceServiceRequest`` is a handful of nested messages; building them as
generated protobuf objects (what the OpenTelemetry exporter does) costs several times
more than writing the wire format directly. This module writes the subset a trace
export needs: one resource, one scope, spans with attributes, events and status.
Attribute values may be ``str``, ``bool``, ``int``, ``float`` or a list of those.

The output decodes with ``opentelemetry-proto`` (the tests check it field by field).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = ["SPAN_ATTRIBUTES", "WireSpan", "encode_attributes", "encode_request", "encode_span"]

_INT64 = (1 << 64) - 1
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack

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
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


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
        return _field(_ANY_STR, value.encode())
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
    return _field(_ANY_STR, str(value).encode())


_key_cache: dict[str, bytes] = {}
_MAX_KEYS = 4096


def _key(key: str) -> bytes:
    k = _key_cache.get(key)
    if k is None:
        k = _field(_K1_LEN, key.encode())
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
            raw = value.encode()
            any_value = _ANY_STR + _varint(len(raw)) + raw
        else:
            any_value = _any_value(value)
        kv = _key(key) + _K2_LEN + _varint(len(any_value)) + any_value
        append(tag + _varint(len(kv)) + kv)
    return b"".join(parts)


def encode_span(span: WireSpan) -> bytes:
    """One ``Span`` message (without its enclosing field key)."""
    parts = [
        _field(_K1_LEN, bytes.fromhex(span.trace_id)),
        _field(_K2_LEN, bytes.fromhex(span.span_id)),
    ]
    if span.parent_span_id:
        parts.append(_field(_K4_LEN, bytes.fromhex(span.parent_span_id)))
    parts.append(_field(_K5_LEN, span.name.encode()))
    parts.append(b"\x30" + _SMALL[KIND_INTERNAL])  # field 6, varint
    parts.append(b"\x39" + _FIXED64(span.start_ns))  # field 7, fixed64
    parts.append(b"\x41" + _FIXED64(span.end_ns))  # field 8, fixed64
    parts.append(encode_attributes(_K9_LEN, span.attributes))
    for name, time_ns, attrs in span.events:
        event = b"\x09" + _FIXED64(time_ns) + _field(_K2_LEN, name.encode())
        event += encode_attributes(_K3_LEN, attrs)
        parts.append(_field(_K11_LEN, event))
    if span.status_code or span.status_message:
        status = _field(_K2_LEN, span.status_message.encode()) if span.status_message else b""
        if span.status_code:
            status += b"\x18" + _SMALL[span.status_code]
        parts.append(_field(_K15_LEN, status))
    return b"".join(parts)


def encode_request(
    resource: Mapping[str, Any],
    scope_name: str,
    scope_version: str,
    spans: Iterable[bytes],
) -> bytes:
    """An ``ExportTraceServiceRequest`` of already encoded spans, under one resource and
    one instrumentation scope."""
    scope = _field(_K1_LEN, scope_name.encode())
    if scope_version:
        scope += _field(_K2_LEN, scope_version.encode())
    body = _field(_K1_LEN, scope) + b"".join(_field(_K2_LEN, s) for s in spans)
    resource_spans = _field(_K1_LEN, encode_attributes(_K1_LEN, resource))
    resource_spans += _field(_K2_LEN, body)
    return _field(_K1_LEN, resource_spans)
