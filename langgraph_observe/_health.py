"""The library's own health counters, shared by the dispatcher, its sink workers and the
sinks that report them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection
from typing import Any

__all__ = ["Health"]


class Health:
    """The library's own health: drops and export errors per sink, queue depths.

    Read by the Prometheus sink (``langgraph_observe_spans_dropped_total`` and friends)
    and by :meth:`snapshot` for anyone else.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dropped: dict[tuple[str, str], int] = {}  #: (sink, reason) -> records dropped
        self.export_errors: dict[str, int] = {}  #: sink -> failed export calls
        self._depths: dict[str, Any] = {}
        self._shared: tuple[deque[Any], ...] = ()

    def drop(self, sink: str, reason: str, n: int = 1) -> None:
        """Count ``n`` records lost by ``sink`` for ``reason``."""
        with self._lock:
            key = (sink, reason)
            self.dropped[key] = self.dropped.get(key, 0) + n

    def export_error(self, sink: str) -> None:
        with self._lock:
            self.export_errors[sink] = self.export_errors.get(sink, 0) + 1

    def losses(self, sinks: Collection[str]) -> int:
        """Records dropped plus failed export or flush calls so far, over ``sinks``."""
        with self._lock:
            dropped = sum(n for (sink, _), n in self.dropped.items() if sink in sinks)
            return dropped + sum(n for sink, n in self.export_errors.items() if sink in sinks)

    def _watch_depth(self, sink: str, queue: deque[Any]) -> None:
        self._depths[sink] = queue

    def _watch_shared(self, *queues: deque[Any]) -> None:
        self._shared = queues

    def queue_depths(self) -> dict[str, int]:
        """Records waiting per sink, now (those still in the dispatcher's queues included)."""
        shared = sum(len(q) for q in self._shared)
        return {name: shared + len(q) for name, q in list(self._depths.items())}

    def snapshot(self) -> dict[str, Any]:
        """A copy of every counter, for logs and tests."""
        with self._lock:
            return {
                "dropped": dict(self.dropped),
                "export_errors": dict(self.export_errors),
                "queue_depths": self.queue_depths(),
            }

    @property
    def total_dropped(self) -> int:
        with self._lock:
            return sum(self.dropped.values())
