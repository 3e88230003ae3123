"""When a remote backend is down, stop trying for a while instead of at every batch.

A sink that delivers over the network asks :meth:`OutagePause.paused` before it encodes
a batch. After a delivery fails in a way that trying later may fix (no connection, no
answer in time, ``429``/``502``/``503``/``504`` after the retries), the sink pauses:
batches that arrive meanwhile are dropped at once, unencoded, and counted. The pause
doubles with each failure in a row, up to a limit; the first batch after a pause is the
probe, and the first success ends the outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MAX_PAUSE_FACTOR", "OutagePause"]

#: the longest pause, as a multiple of the first
MAX_PAUSE_FACTOR = 12


class OutagePause:
    """The pause state of one sink (used on its worker thread only).

    Args:
        first_s: the pause after the first failure; 0 never pauses.
        clock: seconds, monotonic.
    """

    __slots__ = ("_clock", "_until", "failures", "first_s")

    def __init__(self, first_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.first_s = max(0.0, first_s)
        self.failures = 0  #: deliveries failed in a row
        self._clock = clock
        self._until = 0.0

    def paused(self) -> bool:
        """True while the pause after the last failure lasts."""
        return self._until > 0.0 and self._clock() < self._until

    def failed(self) -> float:
        """Count a failed delivery; returns the pause it starts (seconds)."""
        self.failures += 1
        doubling = 1 << min(self.failures - 1, MAX_PAUSE_FACTOR.bit_length())
        pause = self.first_s * min(doubling, MAX_PAUSE_FACTOR)
        self._until = self._clock() + pause if pause > 0 else 0.0
        return pause

    def succeeded(self) -> None:
        """A delivery got through: the outage is over."""
        self.failures = 0
        self._until = 0.0
