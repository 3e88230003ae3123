"""A resource that computes its hash once (imports the OpenTelemetry SDK).

The SDK's OTLP encoder groups the spans of a batch by resource: it hashes the resource of
every span, and ``Resource.__hash__`` serializes all the resource's attributes to JSON
each time (about 4 µs per span here). Resources are immutable, so the OTel sink's spans
carry an equal copy that hashes once (to the same value: spans of other tracers on the
provider still group with them).
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource

__all__ = ["HashedResource"]


class HashedResource(Resource):
    """An equal copy of ``resource`` whose hash is computed once."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = hash(resource)

    def __hash__(self) -> int:
        return self._hash
