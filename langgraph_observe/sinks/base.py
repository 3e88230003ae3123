"""The sink protocol: what every backend implements.

A sink receives batches of :data:`~langgraph_observe.events.Record` on its own background
thread (never on the graph's path). It ignores record types it has no use for.

Optional methods are called when a sink has them (:class:`BaseSink` has the first two):
``bind(health)``, by the dispatcher that feeds the sink (once, and again in the child of an
``os.fork()`` with the child's own counters); ``after_fork()``, in that child, before the
sink is used or bound there; ``health_changed()``, for a sink that reports the health counters
(the Prometheus sink), after they may have changed: each time any sink's worker has
emptied its queue, and at the end of every ``flush`` (so that once ``flush`` returned, a
report made there holds every count so far). It is called from those threads, and no more
once the dispatcher starts shutting the sinks down: keep it quick and thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..events import Record

if TYPE_CHECKING:
    from ..dispatch import Health

__all__ = ["BaseSink", "Sink"]


@runtime_checkable
class Sink(Protocol):
    """A consumer of records. ``name`` labels its queue, drops and errors."""

    name: str

    def export(self, records: Sequence[Record]) -> None:
        """Consume a batch. Called from the sink's worker thread only."""

    def flush(self, timeout: float) -> None:
        """Push out anything the sink buffers itself, within ``timeout`` seconds."""

    def shutdown(self, timeout: float) -> None:
        """Release resources; no call follows."""


class BaseSink:
    """Convenience base: no-op ``flush``/``shutdown``, and a ``health`` handle once bound."""

    name = "sink"
    health: Health | None = None

    def bind(self, health: Health) -> None:
        """Called by the dispatcher (again in a forked child, with the child's own counters):
        gives the sink the library's health counters."""
        self.health = health

    def export(self, records: Sequence[Record]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self, timeout: float) -> None:
        return None

    def shutdown(self, timeout: float) -> None:
        return None

    def after_fork(self) -> None:
        """Called in the child right after ``os.fork()``, where only the forking thread
        exists, before the sink's worker starts again: reset per-process state. Drop what
        belongs to the parent (connections, sockets, locks a parent's thread may hold)
        without using it; a SQLite connection must not even be closed. Keep it quick: no
        I/O, no threads. The records the parent had queued stay the parent's. Nothing to
        do by default."""
        return None
