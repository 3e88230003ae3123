"""The sink protocol: what every backend implements.

A sink receives batches of :data:`~langgraph_observe.events.Record` on its own background
thread (never on the graph's path). It ignores record types it has no use for.
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
        """Called once by the dispatcher; gives the sink the library's health counters."""
        self.health = health

    def export(self, records: Sequence[Record]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self, timeout: float) -> None:
        return None

    def shutdown(self, timeout: float) -> None:
        return None
