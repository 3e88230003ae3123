"""Seeing when an OpenTelemetry SDK batch processor is full, before handing it a span.

The OpenTelemetry SDK's ``BatchSpanProcessor`` (and Langfuse's, which extends it) drops a
span when its queue is full, logging one warning per span, and the drop never reaches this
library's counters. A sink that checks first skips building a span that would be dropped
(no wasted CPU, no warning per span) and counts it in :class:`~..dispatch.Health` with the
reason ``sdk_queue_full``.

The queues are read from the SDK's private attributes; when they are not there (another
SDK version, a provider that is not the SDK's), the check finds no queue and says "not
full": the sink then behaves as before.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["SDKQueueGuard"]


def _batch_queues(provider: Any) -> list[tuple[deque[Any], int]]:
    multi = getattr(provider, "_active_span_processor", None)
    out: list[tuple[deque[Any], int]] = []
    for processor in getattr(multi, "_span_processors", ()) or ():
        batch = getattr(processor, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        size = getattr(batch, "_max_queue_size", None)
        if isinstance(queue, deque) and isinstance(size, int) and size > 0:
            out.append((queue, size))
    return out


class SDKQueueGuard:
    """Answers "would the provider's batch processors drop a span now?"."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self._queues: list[tuple[deque[Any], int]] | None = None

    def full(self) -> bool:
        """True when any batch processor on the provider has a full queue."""
        if self._queues is None:  # processors are added after construction: look lazily
            self._queues = _batch_queues(self._provider)
        return any(len(queue) >= size for queue, size in self._queues)
