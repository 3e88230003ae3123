"""Public test helpers: an in-memory sink and a capture helper.

>>> from langgraph_observe import CallbackHandler
>>> from langgraph_observe.testing import InMemorySink
>>> sink = InMemorySink()
>>> handler = CallbackHandler(sinks=[sink])
>>> # graph.invoke(x, config={"callbacks": [handler]}); handler.flush()
>>> # sink.spans() -> list of SpanRecord
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ._forksafe import renew_after_fork
from .events import Record, ScoreRecord, SpanKind, SpanRecord
from .sinks.base import BaseSink

__all__ = ["InMemorySink", "SpanTree", "capture"]

_R = TypeVar("_R")


class InMemorySink(BaseSink):
    """Keeps every record it receives, in order. Thread-safe."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        self.records: list[Record] = []

    def export(self, records: Sequence[Record]) -> None:
        with self._lock:
            self.records.extend(records)

    def of_type(self, cls: type[_R]) -> list[_R]:
        with self._lock:
            return [r for r in self.records if isinstance(r, cls)]

    def spans(self, kind: SpanKind | str | None = None) -> list[SpanRecord]:
        """Finished spans, optionally of one kind."""
        spans = self.of_type(SpanRecord)
        if kind is None:
            return spans
        return [s for s in spans if s.kind == kind]

    def scores(self) -> list[ScoreRecord]:
        return self.of_type(ScoreRecord)

    def traces(self) -> dict[str, SpanTree]:
        """Spans grouped by trace id."""
        out: dict[str, list[SpanRecord]] = {}
        for s in self.spans():
            out.setdefault(s.trace_id, []).append(s)
        return {t: SpanTree(spans) for t, spans in out.items()}

    def clear(self) -> None:
        with self._lock:
            self.records.clear()


class SpanTree:
    """The spans of one trace, with navigation helpers for assertions."""

    def __init__(self, spans: Sequence[SpanRecord]) -> None:
        self.spans = list(spans)
        self.by_id = {s.span_id: s for s in self.spans}

    @property
    def root(self) -> SpanRecord:
        roots = [s for s in self.spans if s.parent_span_id is None]
        if len(roots) != 1:
            raise AssertionError(f"expected one root, found {len(roots)}")
        return roots[0]

    def children(self, span: SpanRecord) -> list[SpanRecord]:
        return sorted(
            (s for s in self.spans if s.parent_span_id == span.span_id), key=lambda s: s.start_ns
        )

    def parent(self, span: SpanRecord) -> SpanRecord | None:
        return self.by_id.get(span.parent_span_id) if span.parent_span_id else None

    def find(self, name: str | None = None, kind: SpanKind | str | None = None) -> list[SpanRecord]:
        return [
            s
            for s in self.spans
            if (name is None or s.name == name) and (kind is None or s.kind == kind)
        ]

    def one(self, name: str | None = None, kind: SpanKind | str | None = None) -> SpanRecord:
        found = self.find(name, kind)
        if len(found) != 1:
            raise AssertionError(f"expected one span name={name} kind={kind}, found {len(found)}")
        return found[0]

    def ancestors(self, span: SpanRecord) -> list[SpanRecord]:
        out = []
        p = self.parent(span)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out

    def render(self) -> str:
        """An indented outline, handy in assertion messages."""
        lines: list[str] = []

        def walk(s: SpanRecord, depth: int) -> None:
            lines.append(f"{'  ' * depth}{s.kind}:{s.name} [{s.status}]")
            for c in self.children(s):
                walk(c, depth + 1)

        for r in (s for s in self.spans if s.parent_span_id not in self.by_id):
            walk(r, 0)
        return "\n".join(lines)


@contextmanager
def capture(**handler_kwargs: Any) -> Iterator[tuple[Any, InMemorySink]]:
    """A handler feeding a fresh :class:`InMemorySink`; flushed and shut down on exit.

    >>> with capture() as (handler, sink):
    ...     pass  # graph.invoke(x, config={"callbacks": [handler]})
    """
    from .adapters.langchain import CallbackHandler

    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], **handler_kwargs)
    try:
        yield handler, sink
    finally:
        handler.shutdown()
