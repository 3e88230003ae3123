"""A sink whose export blocks until released: for tests of what a stuck backend does to
flush and shutdown."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from langgraph_observe.events import Record
from langgraph_observe.sinks.base import BaseSink


class Blocking(BaseSink):
    """Its export waits until released (at most 30 s), then fails when ``fail``."""

    name = "blocking"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()

    def export(self, records: Sequence[Record]) -> None:
        self.entered.set()
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("gave up waiting for the backend")
