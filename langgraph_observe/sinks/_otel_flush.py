"""Flushing with a hard time limit.

``force_flush`` of the OpenTelemetry SDK (and of the Langfuse client) can outlast its
timeout argument: an exporter that is mid-request to a stalled backend finishes its own
request timeout and retries first. :class:`BoundedFlush` runs the flush on a helper
thread and waits at most ``timeout`` seconds; while one flush is still running, later
calls wait for it instead of stacking up more threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["BoundedFlush"]


class BoundedFlush:
    """Runs ``fn`` on a helper thread; :meth:`__call__` returns within ``timeout``."""

    def __init__(self, fn: Callable[[float], object], name: str) -> None:
        self._fn = fn
        self._name = name
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None

    def __call__(self, timeout: float) -> bool:
        """True when the flush finished within ``timeout`` seconds."""
        with self._lock:
            if self._running is None or not self._running.is_alive():
                self._running = threading.Thread(
                    target=self._fn, args=(timeout,), name=self._name, daemon=True
                )
                self._running.start()
            running = self._running
        running.join(max(0.0, timeout))
        return not running.is_alive()
