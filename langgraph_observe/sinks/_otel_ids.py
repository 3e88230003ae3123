"""Span ids chosen by the caller: how the OTel and Langfuse sinks keep the records' ids.

The OpenTelemetry SDK's ``Tracer.start_span`` takes its trace and span ids from the
tracer's ``id_generator``. :class:`PresetIds` wraps a generator: ids preset on the
current thread with :meth:`PresetIds.use` are handed out once, anything else falls back
to the wrapped generator. The sinks create spans on their own worker thread, so a preset
id never reaches another thread's span.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["IdSource", "PresetIds"]


class IdSource(Protocol):
    """What the SDK asks an id generator (``opentelemetry.sdk.trace.id_generator``)."""

    def generate_span_id(self) -> int: ...

    def generate_trace_id(self) -> int: ...


class PresetIds(threading.local):
    """An SDK id generator that returns the ids set by :meth:`use`, then the fallback's."""

    def __init__(self, fallback: Any = None) -> None:
        self.fallback = fallback
        self.span_id: int | None = None
        self.trace_id: int | None = None

    @contextmanager
    def use(self, trace_id: str, span_id: str) -> Iterator[None]:
        """Hand out these ids (hex strings) to the next span started on this thread."""
        self.trace_id = int(trace_id, 16)
        self.span_id = int(span_id, 16)
        try:
            yield
        finally:
            self.trace_id = self.span_id = None

    def generate_span_id(self) -> int:
        span_id, self.span_id = self.span_id, None
        if span_id is not None:
            return span_id
        return int(self._fallback().generate_span_id())

    def generate_trace_id(self) -> int:
        trace_id, self.trace_id = self.trace_id, None
        if trace_id is not None:
            return trace_id
        return int(self._fallback().generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return False

    def _fallback(self) -> Any:
        if self.fallback is None:
            from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

            self.fallback = RandomIdGenerator()
        return self.fallback
